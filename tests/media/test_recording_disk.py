"""A full disk stops the recording cleanly and the meeting goes on: a relay process whose files may not grow past
64 KB (RLIMIT_FSIZE: the kernel refuses the write, as on a full disk), recording a floor while the chair watches."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_full_disk_stops_recording_cleanly_and_forwarding_goes_on(tmp_path):
    out = tmp_path / "segments"
    out.mkdir()
    env = dict(
        os.environ,
        MEDIA_ICE_HOSTS="127.0.0.1",
        CONFSERVER_VAR_DIR=str(tmp_path / "var"),
        DJANGO_SETTINGS_MODULE="confserver.settings",
        RECORDING_KEYFRAME_S="2",
    )
    done = subprocess.run(
        [sys.executable, "-m", "tests.media.full_disk_child", str(out), str(64 * 1024)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])

    (failure,) = result["failures"]  # told once
    assert failure["code"] == "disk_error" and "File too large" in failure["detail"], failure
    assert failure["on_loop_thread"], "the failure is told on the relay's event loop"
    assert result["files"] == {"seg-1.webm": 64 * 1024}, "written up to the limit, then refused"
    assert result["closed_segments"] == 0, "the cut-off segment is left for recovery, not recorded as closed"
    assert not result["recording_after"] and result["writer_threads"] == []
    # the chair kept receiving the floor room's picture (15 fps) after the recorder stopped
    assert result["frames_after_failure_2s"] >= 20, result
