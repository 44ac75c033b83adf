"""The driver the bench suites share (bench/cascade.py, bench/recording.py): named cases, each a script of
bench/ run in a process of its own with a time bound; `--only a,b` picks some. Last line on stdout: one JSON
object with the suite's keys (null for a case not run or failed) and the cases' other figures; a case that fails
says why on stderr."""

import argparse
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Cases that start Django outside the embedded default need a key (never a fixed one: confserver refuses it).
ENV = {**os.environ, "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(64)}


def run(name: str, args: list[str], timeout: float) -> dict:
    """One case: `args[0]` (a script beside this one) with the rest; its last JSON line, {} if it failed."""
    print(f"• {name}", file=sys.stderr, flush=True)
    try:
        out = subprocess.run(
            [sys.executable, str(HERE / args[0]), *args[1:]], capture_output=True, text=True, timeout=timeout, env=ENV
        )
    except subprocess.TimeoutExpired:
        print(f"{name}: no result within {timeout} s", file=sys.stderr)
        return {}
    sys.stderr.write(out.stderr[-4000:])
    lines = [line for line in out.stdout.strip().splitlines() if line.startswith("{")]
    if out.returncode or not lines:
        print(f"{name}: failed ({out.returncode})", file=sys.stderr)
        return {}
    return json.loads(lines[-1])


def main(doc: str, cases: dict[str, tuple[list[str], float]], keys: tuple[str, ...]) -> None:
    """Parse --only, run the chosen cases in order, print the merged result."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--only", default=",".join(cases), help="comma-separated: " + ",".join(cases))
    names = [n for n in parser.parse_args().only.split(",") if n]
    unknown = set(names) - set(cases)
    if unknown:
        parser.error(f"unknown cases: {', '.join(sorted(unknown))}")
    result = dict.fromkeys(keys)
    for name in names:
        result.update(run(name, *cases[name]))
    print(json.dumps(result))
