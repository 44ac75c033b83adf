"""Recording (issue 10): what it costs the relay, what a crash loses, how fast the one-file export is, how fast a
reviewer seeks. Loopback only, bounded, stops by itself; each case runs in a process of its own:

- cpu   (bench/_recording_cpu.py): ≥ 20 meetings' programs recorded at once in one relay process, its CPU with
        recording on and off side by side in one run → `cpu_pct_per_stream` (goal ≤ 0.1 % of a core);
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
import argparse
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES = {
    "cpu": (["_recording_cpu.py", "--meetings", "20", "--seconds", "10"], 600),
    "kill": (["_recording_kill.py"], 600),
    "remux": (["_recording_remux.py"], 900),
    "seek": (["_recording_seek.py"], 900),
}
# The cases that start Django outside the embedded default need a key (never a fixed one: confserver refuses it).
ENV = {**os.environ, "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(64)}
KEYS = ("streams", "cpu_pct_per_stream", "lost_s_on_kill", "remux_s_per_hour", "seek_p95_ms")


def run(name: str) -> dict:
    args, timeout = CASES[name]
    print(f"• {name}", file=sys.stderr, flush=True)
    try:
        out = subprocess.run([sys.executable, str(HERE / args[0]), *args[1:]], capture_output=True, text=True,
                             timeout=timeout, env=ENV)
    except subprocess.TimeoutExpired:
        print(f"{name}: no result within {timeout} s", file=sys.stderr)
        return {}
    sys.stderr.write(out.stderr[-4000:])
    lines = [line for line in out.stdout.strip().splitlines() if line.startswith("{")]
    if out.returncode or not lines:
        print(f"{name}: failed ({out.returncode})", file=sys.stderr)
        return {}
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(CASES), help="comma-separated: " + ",".join(CASES))
    names = [n for n in parser.parse_args().only.split(",") if n]
    unknown = set(names) - set(CASES)
    if unknown:
        parser.error(f"unknown cases: {', '.join(sorted(unknown))}")
    result = dict.fromkeys(KEYS)
    for name in names:
        result.update(run(name))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
