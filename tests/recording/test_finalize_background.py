"""finalize.start_in_background (issue 10): called on an event loop when a meeting ends, it returns at once while
a separate, niced process mixes and joins the recording; the loop keeps running meanwhile, and the process leaves
a one-file download that verify_recording finds intact. The child uses its own throwaway database (PostgreSQL
when DATABASE_URL is set, else a SQLite file), since it cannot see the test's transaction."""

import asyncio
import json
import os
import time
from pathlib import Path

import pytest

from confserver.recording import finalize
from confserver.testing import live


def nice_of(pid: int) -> int | None:
    """The niceness of a running process once it is the finalize_recording Python (after `nice` exec'd it)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if argv[0].endswith(b"nice") or b"finalize_recording" not in argv:
            return None  # still `nice` itself, before it lowered its priority and exec'd Python
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[16])  # field 19 of proc(5), counted after "(comm)"


@pytest.fixture
def child_env(tmp_path, monkeypatch, settings):
    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        env = live.server_env(
            db_url,
            [],
            RECORDINGS_ROOT=str(tmp_path / "recordings"),
            CONFSERVER_VAR_DIR=str(tmp_path / "var"),
            LOG_LEVEL="WARNING",
        )
        live.manage(env, "migrate", "--no-input", "-v0", timeout=600)
        made = json.loads(live.run_python(env, "tests.recording.bg_fixture", timeout=600).strip().splitlines()[-1])
        for key in ("DATABASE_URL", "RECORDINGS_ROOT", "CONFSERVER_VAR_DIR", "SECRET_KEY", "DJANGO_SETTINGS_MODULE"):
            monkeypatch.setenv(key, env[key])  # what the child inherits
        settings.RECORDING_FINALIZE_NICE = 10
        yield env, made["meeting"]


async def test_start_in_background_returns_at_once_and_a_niced_process_builds_the_file(child_env):
    env, meeting_id = child_env
    gaps: list[float] = []

    async def ticker():
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.05)
    assert finalize.start_in_background(meeting_id) is None  # on the loop: any database call would raise here
    ((pid, proc),) = list(finalize._children.items())
    assert proc.poll() is None  # returned while the build goes on
    gaps.clear()
    niceness = None
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        niceness = nice_of(pid) if niceness is None else niceness
        await asyncio.sleep(0.005)
    tick.cancel()
    assert proc.returncode == 0
    assert niceness == 10  # low priority: the relay and daphne come first
    assert len(gaps) > 20  # the loop kept turning while the child built (no bound on a gap: a loaded machine)
    await asyncio.sleep(0.05)
    assert pid not in finalize._children  # reaped, no zombie

    out = await asyncio.to_thread(live.manage, env, "verify_recording", str(meeting_id))
    assert "Tất cả 2 đoạn nguyên vẹn" in out
    line = next(x for x in out.splitlines() if x.startswith("Tệp tải về"))
    assert line.endswith("nguyên vẹn / intact"), out


async def test_a_builder_that_runs_too_long_is_ended_and_reaped(settings, caplog):
    """RECORDING_FINALIZE_TIMEOUT_S bounds the background builder's wall time (a hung disk or a pathological
    file would otherwise keep it, and each stale take-over would add one more): past it the builder is
    stopped, reaped, and the failure logged. Here the bound is shorter than the child's own start-up, so it
    is stopped before it touches any database."""
    settings.RECORDING_FINALIZE_TIMEOUT_S = 0.2
    settings.RECORDING_FINALIZE_NICE = 10
    finalize.start_in_background(999_999_999)
    ((pid, proc),) = list(finalize._children.items())
    for _ in range(600):
        if proc.poll() is not None and pid not in finalize._children:
            break
        await asyncio.sleep(0.05)
    assert proc.returncode == 124  # timeout(1): the command was stopped at its bound
    assert pid not in finalize._children  # reaped
    assert not Path(f"/proc/{pid}").exists()
    assert any("finalize_recording 999999999 exited with 124" in r.getMessage() for r in caplog.records)
