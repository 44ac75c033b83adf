"""Voting load on loopback (issue 14): N delegates cast one ballot each within a few seconds over >= 2 daphne
workers; every ballot must be acknowledged (committed), counted once, none lost. Bounded; stops by itself.

    REDIS_URL=redis://127.0.0.1:6379/0 DATABASE_URL=postgres://postgres@127.0.0.1:5432/confserver \
        .venv/bin/python bench/votes.py [--voters 500] [--workers 2] [--spread-s 8] [--secret] [--kill-at 0.4]

With --kill-at F one worker is SIGKILLed after F of the spread: its clients' requests fail and are sent again, with
the same idempotency key, to another worker; a ballot whose first request was committed before the kill is then
acknowledged again, not counted twice. Last line: {"voters", "cast_p99_ms", "counted", "lost", "duplicates", ...}:
lost = acknowledged ballots not in the database, duplicates = ballots counted more than once (rows beyond one per
delegate, or a secret vote's counters adding up to more than its ballots).
"""

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import aiohttp  # noqa: E402

from confserver.testing import live  # noqa: E402


def pct(samples, p):
    if not samples:
        return None
    s = sorted(samples)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))]


async def voter(http, bases, i, meeting_id, vote_id, token, at, t0, out):
    """One delegate: wait for their moment, cast, retry on another worker (same key) until acknowledged."""
    await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
    body = {"choice": random.choice(("yes", "yes", "no", "abstain")), "key": uuid.uuid4().hex}
    headers = {"Authorization": f"Delegate {token}"}
    start, tries, w = time.monotonic(), 0, i % len(bases)
    while time.monotonic() - start < 30:
        tries += 1  # no shortcut past a dead worker: its refused connection sends the client on
        try:
            async with http.post(
                f"{bases[w]}/api/votes/meetings/{meeting_id}/votes/{vote_id}/ballot",
                json=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=10),
            ) as r:
                data = await r.json()
                if r.status == 200 and data.get("counted"):
                    out.append(
                        {
                            "i": i,
                            "ms": (time.monotonic() - start) * 1000,
                            "tries": tries,
                            "replay": data["replay"],
                            "worker": w,
                            "acked_at": time.monotonic() - t0,
                        }
                    )
                    return
                out.append({"i": i, "error": data.get("code"), "status": r.status})
                return
        except (TimeoutError, aiohttp.ClientError, ConnectionError):
            w = (w + 1) % len(bases)
            await asyncio.sleep(0.05)
    out.append({"i": i, "error": "gave_up"})


async def run(args, bases, seed, meeting_id, procs):
    tokens, vote_id = seed["tokens"], seed["vote_id"]
    out: list[dict] = []
    kill_info = {}
    conn = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=conn) as http:
        for b in bases:  # warm each worker (the first request imports and connects)
            async with http.get(
                f"{b}/api/votes/meetings/{meeting_id}/mine", headers={"Authorization": f"Delegate {tokens[0]}"}
            ) as r:
                await r.read()
        t0 = time.monotonic() + 0.5
        cpu0 = {p.pid: cpu_s(p.pid) for p in procs}
        cpu_used = {}
        ats = sorted(random.uniform(0, args.spread_s) for _ in tokens)
        tasks = [
            asyncio.create_task(voter(http, bases, i, meeting_id, vote_id, tok, ats[i], t0, out))
            for i, tok in enumerate(tokens)
        ]
        if args.kill_at is not None:
            await asyncio.sleep(max(0.0, t0 + args.kill_at * args.spread_s - time.monotonic()))
            killed_at = time.monotonic() - t0
            kill_info = {"killed_at_s": killed_at}
            cpu_used[procs[0].pid] = cpu_s(procs[0].pid) - cpu0[procs[0].pid]
            os.kill(procs[0].pid, signal.SIGKILL)
        await asyncio.gather(*tasks)
        for p in procs:
            cpu_used.setdefault(p.pid, cpu_s(p.pid) - cpu0[p.pid])
    kill_info["workers_cpu_s"] = round(sum(cpu_used.values()), 2)
    return out, kill_info, t0


def cpu_s(pid) -> float:
    """User + system CPU seconds of a process so far (its threads included)."""
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def count(db_url, vote_id, secret):
    import psycopg

    with psycopg.connect(db_url.replace("postgres://", "postgresql://", 1)) as c:
        rows, delegates = c.execute(
            "SELECT count(*), count(DISTINCT delegate_id) FROM votes_ballot WHERE vote_id = %s", [vote_id]
        ).fetchone()
        tally = c.execute(
            "SELECT coalesce(sum(count), 0) FROM votes_secrettally WHERE vote_id = %s", [vote_id]
        ).fetchone()[0]
        ids = c.execute(
            "SELECT d.name FROM votes_ballot b JOIN delegates_delegate d ON d.id = b.delegate_id WHERE b.vote_id = %s",
            [vote_id],
        ).fetchall()
    return rows, delegates, tally, {int(n.rsplit(" ", 1)[1]) - 1 for (n,) in ids}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--voters", type=int, default=500)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--spread-s", type=float, default=8.0, help="ballots arrive uniformly over this many seconds")
    p.add_argument("--secret", action="store_true")
    p.add_argument("--kill-at", type=float, default=None, help="SIGKILL worker 0 after this fraction of the spread")
    args = p.parse_args()
    assert args.workers >= 2 or args.kill_at is None, "a kill needs a second worker"
    db = os.environ.get("DATABASE_URL", "")
    if not db.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/votes.py needs DATABASE_URL=postgres://… (several workers share the database)")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    ports = [live.free_port() for _ in range(args.workers)]
    with live.throwaway_database(db) as db_url:
        env = live.server_env(db_url, ports)
        live.manage(env, "migrate", "--no-input", "-v0")
        made = json.loads(live.run_python(env, "confserver.testing.seed", "--rooms", "20"))
        out = subprocess.run(
            [
                live.PYTHON,
                str(HERE / "_votes_seed.py"),
                "--meeting",
                str(made["meeting_id"]),
                "--delegates",
                str(args.voters),
                "--limit-s",
                "900",
                *(["--secret"] if args.secret else []),
            ],
            env=env,
            cwd=live.ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if out.returncode:
            sys.exit(out.stderr)
        seed = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"seeded {args.voters} delegates, vote {seed['vote_id']} ({'secret' if args.secret else 'open'})",
            file=sys.stderr,
            flush=True,
        )
        with ExitStack() as stack:
            procs = [
                stack.enter_context(live.daphne(env, port, Path(f"/tmp/bench-votes-{port}.log"))) for port in ports
            ]
            results, kill_info, _ = asyncio.run(
                asyncio.wait_for(
                    run(args, [f"http://127.0.0.1:{p}" for p in ports], seed, made["meeting_id"], procs), 120
                )
            )
        rows, delegates, tally, counted_ids = count(db_url, seed["vote_id"], args.secret)
    acked = [r for r in results if "ms" in r]
    errors = [r for r in results if "error" in r]
    lost = len({r["i"] for r in acked} - counted_ids)
    duplicates = (rows - delegates) + (max(0, tally - rows) if args.secret else 0)
    result = {
        "voters": args.voters,
        "acknowledged": len(acked),
        "errors": len(errors),
        "error_codes": sorted({str(e["error"]) for e in errors}),
        "cast_p50_ms": round(pct([r["ms"] for r in acked], 50), 1) if acked else None,
        "cast_p99_ms": round(pct([r["ms"] for r in acked], 99), 1) if acked else None,
        "cast_max_ms": round(max(r["ms"] for r in acked), 1) if acked else None,
        "counted": delegates,
        "lost": lost,
        "duplicates": duplicates,
        "retried": sum(1 for r in acked if r["tries"] > 1),
        "replays": sum(1 for r in acked if r["replay"]),
        "last_ack_s": round(max(r["acked_at"] for r in acked), 2) if acked else None,
        "workers": args.workers,
        "secret": args.secret,
        "spread_s": args.spread_s,
        **kill_info,
        # The workers' CPU per ballot acknowledged (retries and replays included): what a ballot costs, whatever
        # else the machine runs; cast_p99_ms is only as good as the share of the cores the workers get.
        "worker_cpu_ms_per_ballot": round(kill_info["workers_cpu_s"] * 1000 / max(1, len(acked)), 1),
        "load": round(os.getloadavg()[0], 1),
    }
    if "killed_at_s" in kill_info:
        # One clock and one instant for both figures (a rounded kill time once made them differ by one ballot).
        before = [r for r in acked if r["acked_at"] <= kill_info["killed_at_s"]]
        result["killed_at_s"] = round(kill_info["killed_at_s"], 2)
        result["acked_before_kill"] = len(before)
        result["acked_before_kill_counted"] = sum(1 for r in before if r["i"] in counted_ids)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
