"""Recording (issue 10): what it costs the relay, what a crash loses, how fast the one-file export is, how fast a
reviewer seeks. Loopback only, bounded, stops by itself; each case runs in a process of its own:

- cpu   (bench/_recording_cpu.py): ≥ 20 meetings' programs recorded at once in one relay process, its CPU with
        recording on and off side by side in one run → `cpu_pct_per_stream` (goal ≤ 0.1 % of a core): what
        recording adds to meetings whose program a room watches (every real one); the figure against unwatched
        meetings, which charges recording with the routing fan-out too, is printed beside it
        (`cpu_pct_per_stream_unwatched`, the figure before this baseline);
- kill  (bench/_recording_kill.py): a real-time-fed Recorder killed with SIGKILL, 5 trials → `lost_s_on_kill`
        (worst; goal ≤ 2);
- remux (bench/_recording_remux.py): one hour recorded in segments joined into one WebM without re-encoding →
        `remux_s_per_hour` (goal ≤ 5; mixing the two audio tracks is reported beside it, not in it);
- seek  (bench/_recording_seek.py): 20 random seeks on the review page's player in headless Chromium, one hour
        served by the product → `seek_p95_ms` (goal ≤ 300).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/recording.py [--only cpu,seek]

Last line: one JSON object with streams, cpu_pct_per_stream, lost_s_on_kill, remux_s_per_hour, seek_p95_ms and the
cases' other figures. A case that fails prints why to stderr and leaves its figures null.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _driver import main  # noqa: E402

CASES = {
    "cpu": (["_recording_cpu.py", "--meetings", "20", "--seconds", "10"], 600),
    "kill": (["_recording_kill.py"], 600),
    "remux": (["_recording_remux.py"], 900),
    "seek": (["_recording_seek.py"], 900),
}
KEYS = ("streams", "cpu_pct_per_stream", "lost_s_on_kill", "remux_s_per_hour", "seek_p95_ms")


if __name__ == "__main__":
    main(__doc__, CASES, KEYS)
