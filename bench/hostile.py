"""The outside probe of issue 9, case by case, against the production shape on loopback: a throwaway
PostgreSQL database, its own redis-server (killed and restarted by one case), two daphne workers.
The heavy cases run one at a time on a freshly started worker; every case is bounded in time, a worker
passing --max-rss-mb is killed (its figure reads "> N"), and everything started here is stopped at exit.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/hostile.py [--only fuzz,flood]

Cases: db, fuzz, ghosts, redis, login, upload, flood, render. A case that fails prints why to stderr and
leaves its figures null. Memory figures are growth over the worker's baseline (RSS of it and its children,
sampled every 50 ms, plus its VmHWM). A fuzz crash is a close 1011, a socket lost without a close, a
reply that is not JSON or has an undocumented code (docs/protocol.md), or no reply within 5 s.
Last line: one JSON object (db_connections_after_500_requests, anon_200mb_upload_peak_mb, flood_60s_peak_mb,
flood_close_s, render_bomb_peak_mb, render_bomb_s, fuzz_frames, fuzz_crashes, login_throttled_after,
redis_restart_state_kept, redis_restart_recover_s, ghost_rooms, and context).
"""

import argparse
import asyncio
import json
import os
import random
import re
import resource
import secrets
import signal
import string
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _hostile_fuzz  # noqa: E402
import _hostile_http  # noqa: E402
import aiohttp  # noqa: E402
from _hostile_procs import PgGuard, Sampler, Worker, log, mb, status_kb  # noqa: E402
from _hostile_ws import TEXT, Member, frame, open_conn  # noqa: E402

from confserver.testing import live  # noqa: E402

CASES = ("db", "fuzz", "ghosts", "redis", "login", "upload", "flood", "render")
KEYS = (
    "db_connections_after_500_requests",
    "anon_200mb_upload_peak_mb",
    "flood_60s_peak_mb",
    "flood_close_s",
    "render_bomb_peak_mb",
    "render_bomb_s",
    "fuzz_frames",
    "fuzz_crashes",
    "login_throttled_after",
    "redis_restart_state_kept",
    "redis_restart_recover_s",
    "ghost_rooms",
)

# Settings the servers run with, and each room token's WebSocket subprotocols (rooms/tokens.py's
# ws_subprotocols where it exists; None: the token goes in ?token=).
INSPECT = r"""
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "confserver.settings")
import django
django.setup()
from django.conf import settings
from confserver.rooms import tokens
db = settings.DATABASES["default"]
pool = (db.get("OPTIONS") or {}).get("pool")
size = pool.get("max_size", pool.get("min_size")) if isinstance(pool, dict) else (4 if pool else None)
fn = getattr(tokens, "ws_subprotocols", None)
print(json.dumps({"db_pool_size": size, "conn_max_age": db.get("CONN_MAX_AGE"),
                  "grace_s": settings.SIGNALING_GRACE_S,
                  "subprotocols": [fn(t) if fn else None for t in json.load(sys.stdin)]}))
"""


def documented_codes(root: Path) -> set[str]:
    """Codes named in docs/protocol.md's sections on replies and errors (the whole page if none)."""
    text = (root / "docs" / "protocol.md").read_text()
    parts = re.split(r"^## ", text, flags=re.M)
    chosen = [p for p in parts[1:] if re.match(r".*(repl|error|code)", p.split("\n", 1)[0], re.I)] or [text]
    return set(re.findall(r"`([a-z][a-z0-9_.]*)`", "\n".join(chosen)))


class Bench:
    """The servers, the demo meeting, and the cases that speak the meeting protocol; `out` holds the figures."""

    def __init__(self, args, workers: list[Worker], redis: live.OwnRedis, seed: dict, db_url: str, info: dict):
        self.args, self.workers, self.redis, self.seed, self.info = args, workers, redis, seed, info
        self.mid = seed["meeting_id"]
        self.cookie = seed["host_cookie"]
        self.rooms = seed["rooms"]
        self.next_room = 0
        u = urlparse(db_url)
        self.db_name = u.path.lstrip("/")
        self.admin_url = u._replace(path="/postgres", scheme="postgresql").geturl()
        self.codes = documented_codes(live.ROOT)
        self.guard = PgGuard(self.admin_url, self.db_name, cap=args.db_guard)
        self.out: dict = {k: None for k in KEYS}

    def take_rooms(self, n: int) -> list[dict]:
        """Rooms no earlier case used (a second socket of a room would replace the first)."""
        if self.next_room + n > len(self.rooms):
            raise RuntimeError(f"not enough rooms seeded: {n} more needed")
        rooms = self.rooms[self.next_room : self.next_room + n]
        self.next_room += n
        return rooms

    async def connect_room(self, worker: Worker, room: dict, keep: bool = True) -> Member:
        path, headers = f"/ws/meetings/{self.mid}/", {}
        if room.get("subprotocols"):
            headers["Sec-WebSocket-Protocol"] = ", ".join(room["subprotocols"])
        else:
            path += f"?token={room['token']}"
        return Member(await open_conn(worker.base, path, headers=headers, keep=keep))

    async def join_room(self, worker: Worker, room: dict) -> Member:
        m = await self.connect_room(worker, room)
        reply = await m.request("join", timeout=15)
        if reply["type"] != "ok":
            m.conn.abort()
            raise RuntimeError(f"room {room['room_id']} could not join: {reply}")
        return m

    async def join_chair(self, worker: Worker) -> Member:
        headers = {"Cookie": f"sessionid={self.cookie}"}
        m = Member(await open_conn(worker.base, f"/ws/meetings/{self.mid}/", headers=headers))
        reply = await m.request("join", timeout=15)
        if reply["type"] != "ok":
            raise RuntimeError(f"the chair could not join: {reply}")
        return m

    def http_headers(self, csrf: bool = False) -> dict:
        if not csrf:
            return {"Cookie": f"sessionid={self.cookie}"}
        token = "".join(random.choice(string.ascii_letters + string.digits) for _ in range(32))
        return {"Cookie": f"sessionid={self.cookie}; csrftoken={token}", "X-CSRFToken": token}

    async def fresh(self, worker: Worker):
        """Restart a worker so a heavy case starts from its baseline."""
        await asyncio.to_thread(worker.restart)
        await asyncio.sleep(1.0)

    # ---- fuzz -------------------------------------------------------------

    async def case_fuzz(self):
        """Frames outside the schema from joined rooms over both workers, one at a time per socket within
        the documented rate; a socket that ends is reopened and joined again."""
        a = self.args
        rooms = self.take_rooms(a.fuzz_sockets)
        answered, crashes, closes = Counter(), Counter(), Counter()
        total = 0
        deadline = time.monotonic() + a.fuzz_time

        def expected_close(code, kind, size):
            # RFC 6455: 1009 for a message too big (docs/protocol.md: at most 64 KB), 1007 for text not UTF-8.
            return (code == 1009 and size > 65536) or (code == 1007 and kind == "invalid_utf8_text")

        def settle(m, kind, size):
            """Account for a socket that ended."""
            code = m.conn.close_code
            if code == 1011:
                crashes[f"close_1011:{kind}"] += 1
            elif code is None:
                crashes[f"died:{kind}"] += 1
            else:
                closes[f"{code}{'' if expected_close(code, kind, size) else '(unexpected)'}:{kind}"] += 1
            m.conn.abort()

        async def one(i: int, room: dict):
            nonlocal total
            worker = self.workers[i % len(self.workers)]
            gen = _hostile_fuzz.frames(random.Random(i))
            m, kind, size, failures = None, "join", 0, 0
            extra = [(TEXT, _hostile_fuzz.invalid_utf8_text(), "invalid_utf8_text")] if i < 4 else []
            while time.monotonic() < deadline and (total < a.fuzz_frames or extra):
                if m is None or m.conn.closed:
                    if m is not None:
                        settle(m, kind, size)
                    try:
                        m = await self.join_room(worker, room)
                    except Exception as exc:
                        failures += 1
                        log(f"fuzz: room {room['room_id']} could not rejoin: {exc}")
                        if failures > 3:
                            return
                        m = None
                        await asyncio.sleep(1)
                        continue
                    m.read = len(m.conn.inbox)
                op, payload, kind = extra.pop() if total >= a.fuzz_frames and extra else next(gen)
                size = len(payload)
                sent = time.monotonic()
                m.conn.send(op, payload)
                total += 1
                try:
                    reply = await m.next_reply(5.0)
                except ConnectionError:
                    settle(m, kind, size)
                    m = None
                    continue
                except TimeoutError:
                    crashes[f"no_reply:{kind}"] += 1
                    m.conn.abort()
                    m = None
                    continue
                if reply.get("type") == "error":
                    code = reply.get("code")
                    if code in self.codes:
                        answered[code] += 1
                    else:
                        crashes[f"undocumented:{code}:{kind}"] += 1
                elif reply.get("type") == "ok":
                    answered["ok"] += 1
                else:
                    crashes[f"odd_frame:{kind}"] += 1
                pause = max(1 / a.fuzz_rate, len(payload) / a.fuzz_bps) - (time.monotonic() - sent)
                if pause > 0:
                    await asyncio.sleep(pause)
            if m is not None:
                m.conn.close()

        await asyncio.gather(*(one(i, r) for i, r in enumerate(rooms)))
        self.out["fuzz_frames"] = total
        self.out["fuzz_crashes"] = sum(crashes.values())
        self.out["fuzz_internal"] = answered.get("internal", 0)
        self.out["fuzz_rate_limited"] = answered.get("rate_limited", 0)
        self.out["fuzz_closes"] = dict(closes)
        log(f"fuzz: {total} frames over {len(rooms)} sockets; answers {dict(answered)}")
        log(f"fuzz: crashes {dict(crashes)}; closes {dict(closes)}")

    # ---- ghosts -----------------------------------------------------------

    async def chair_online(self, holder: list) -> set[int]:
        """Room ids the chair's snapshot shows online (`holder[0]` is the chair; rejoined if it dropped)."""
        if holder[0] is None or holder[0].conn.closed:
            holder[0] = await self.join_chair(self.workers[0])
        reply = await holder[0].request("snapshot", timeout=5)
        if reply["type"] != "ok":
            raise RuntimeError(f"chair snapshot refused: {reply}")
        snap = reply["data"]["snapshot"]
        if "online" in snap:
            return set(snap["online"])
        return {r["room_id"] for r in snap.get("rooms", []) if r.get("online")}

    async def flood(self, conn, seconds: float, stop=None):
        """Pings as fast as the socket takes them, until the server closes it (or `seconds` pass)."""
        chunk = frame(TEXT, b'{"type":"ping","id":1}', mask=b"\x11\x22\x33\x44") * 2000
        end = time.monotonic() + seconds
        while not conn.closed and time.monotonic() < end and not (stop and stop()):
            try:
                await asyncio.wait_for(conn.write_raw(chunk), max(0.05, end - time.monotonic()))
            except TimeoutError:
                break

    async def case_ghosts(self):
        """Rooms gone in three ways (a handler crash, a flood close, their worker killed with the chair on
        the other): are they still online to the chair after the grace period and a sweep?"""
        w0, w1 = self.workers
        chair = [await self.join_chair(w0)]
        names = ("crash_surrogate_id", "crash_deep_nesting", "flood_close", "worker_kill")
        rooms = dict(zip(names, self.take_rooms(4)))
        members = {n: await self.join_room(w1 if n == "worker_kill" else w0, r) for n, r in rooms.items()}
        online = await self.chair_online(chair)
        missing = [n for n, r in rooms.items() if r["room_id"] not in online]
        if missing:
            log(f"ghosts: not shown online after joining: {missing}")
        members["crash_surrogate_id"].conn.send(TEXT, b'{"type":"ping","id":"\\ud800"}')
        members["crash_deep_nesting"].conn.send(TEXT, b"[" * 20000 + b"]" * 20000)
        flooder = members["flood_close"]
        flooder.conn.keep = False
        t0 = time.perf_counter()
        await self.flood(flooder.conn, self.args.ghost_flood_s)
        ended = {n: members[n].conn.close_code for n in names[:3]}
        if flooder.conn.close_at:
            self.out["ghost_flood_close_s"] = round(flooder.conn.close_at - t0, 2)
        await asyncio.to_thread(w1.kill9)
        restart = asyncio.ensure_future(asyncio.to_thread(w1.start))
        for n in names[:3]:  # whatever the server did, these clients are gone now
            members[n].conn.abort()
        log(f"ghosts: close codes {ended}; worker {w1.port} killed")
        deadline = time.monotonic() + self.info["grace_s"] + self.args.sweep_wait
        while True:
            online = await self.chair_online(chair)
            ghosts = [n for n, r in rooms.items() if r["room_id"] in online]
            if not ghosts or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
        await restart
        self.out["ghost_rooms"] = len(ghosts)
        self.out["ghost_cases"] = {n: n in ghosts for n in names}
        self.out["ghost_close_codes"] = ended
        log(f"ghosts after grace {self.info['grace_s']} s + {self.args.sweep_wait} s: {ghosts}")
        chair[0].conn.close()

    # ---- redis restart ----------------------------------------------------

    async def case_redis(self):
        """Floor given, hands raised, a room muted, a roll call: redis-server killed and started empty on
        the same port, then the chair's snapshot is compared with the one before until equal."""
        w0, w1 = self.workers
        rooms = self.take_rooms(6)
        where = [w0, w0, w0, w1, w1, w1]
        members = [await self.join_room(w, r) for w, r in zip(where, rooms)]
        chair = [await self.join_chair(w0)]
        ids = [r["room_id"] for r in rooms]

        async def ok(m, type, **f):
            reply = await m.request(type, **f)
            if reply["type"] != "ok":
                log(f"redis: {type} {f} refused: {reply.get('code')}")

        await ok(chair[0], "roll_call_start")
        await ok(members[5], "roll_call_answer")
        await ok(members[1], "raise_hand")
        await ok(members[4], "raise_hand")
        await ok(chair[0], "grant_floor", room_id=ids[0])
        await ok(chair[0], "mute_room", room_id=ids[2], muted=True)
        await asyncio.sleep(0.5)

        def norm(snap):
            return {
                "state": snap.get("state"),
                "program": snap.get("program"),
                "queue": snap.get("queue"),
                "muted": snap.get("muted"),
                "roll_call_active": snap.get("roll_call_active"),
                "online": sorted(snap.get("online", [])),
            }

        async def snapshot():
            if chair[0] is None or chair[0].conn.closed:
                chair[0] = await self.join_chair(w0)
            reply = await chair[0].request("snapshot", timeout=2)
            return norm(reply["data"]["snapshot"]) if reply["type"] == "ok" else reply.get("code")

        async def keep_rooms():  # as the browser pages do: a room whose socket ends comes back
            for i, m in enumerate(members):
                if m is None or m.conn.closed:
                    try:
                        members[i] = await self.join_room(where[i], rooms[i])
                    except Exception:
                        members[i] = None

        before = await snapshot()
        log(f"redis: before {before}")
        await asyncio.to_thread(self.redis.kill)
        await asyncio.sleep(self.args.redis_down_s)
        back = await asyncio.to_thread(self.redis.start)
        self.out["redis_keys_after_restart"] = await asyncio.to_thread(self.redis.dbsize)
        now, kept = None, False
        while time.monotonic() - back < self.args.redis_wait:
            try:
                await keep_rooms()
                now = await snapshot()
            except Exception as exc:
                now = f"{type(exc).__name__}: {exc}"
            if now == before:
                kept = True
                break
            await asyncio.sleep(0.25)
        self.out["redis_restart_state_kept"] = kept
        self.out["redis_restart_recover_s"] = round(time.monotonic() - back, 2) if kept else None
        if not kept:
            log(f"redis: after {self.args.redis_wait} s the chair sees {now}")
        for m in [*members, chair[0]]:
            if m is not None:
                m.conn.close()

    # ---- flood ------------------------------------------------------------

    async def case_flood(self):
        """8 joined rooms on one fresh worker write pings as fast as it takes them, until closed or --flood-s."""
        w0, limit, cap = self.workers[0], self.args.max_rss_mb, self.args.flood_s
        await self.fresh(w0)
        members = [await self.join_room(w0, r) for r in self.take_rooms(8)]
        for m in members:
            m.conn.keep = False
            m.conn.inbox.clear()
        with Sampler(w0.pid, limit_mb=limit, over_limit=w0.kill9) as s:
            t0 = time.perf_counter()
            await asyncio.gather(*(self.flood(m.conn, cap, stop=lambda: s.exceeded) for m in members))
            ends = [m.conn.close_at or m.conn.lost_at for m in members]
            for m in members:
                m.conn.abort()
        if s.exceeded:
            log(f"flood: worker passed {limit} MB, killed")
        self.out["flood_60s_peak_mb"] = mb(s, limit)
        closed = [e - t0 for e in ends if e is not None]
        self.out["flood_closed_sockets"] = len(closed)
        self.out["flood_close_codes"] = dict(Counter(str(m.conn.close_code) for m in members))
        self.out["flood_close_s"] = round(max(closed), 2) if len(closed) == len(members) else f"> {cap:g}"
        if w0.alive():
            await asyncio.sleep(3.0)
            self.out["flood_after_3s_mb"] = round((status_kb(w0.pid, "VmRSS") or 0) / 1024 - s.baseline_mb, 1)
        self.out["flood_frames_answered"] = sum(m.conn.received for m in members)
        log(
            f"flood: 8 sockets, closes {self.out['flood_close_codes']} at {[round(c, 2) for c in closed]} s; "
            f"peak +{self.out['flood_60s_peak_mb']} MB over {s.baseline_mb:.0f} MB"
        )


def run(env: dict, *args, stdin: str | None = None) -> str:
    """Python in the servers' environment and tree; its stdout."""
    out = subprocess.run(
        [live.PYTHON, *args], env=env, cwd=live.ROOT, input=stdin, capture_output=True, text=True, timeout=300
    )
    if out.returncode:
        raise RuntimeError(f"{args[0]} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


async def room_links(base: str, seed: dict) -> list[dict]:
    """Every invited room's link, from the chair's side of the API (as the console gets them)."""
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{base}/api/meetings/{seed['meeting_id']}/room-tokens",
            headers={"Cookie": f"sessionid={seed['host_cookie']}"},
        ) as r:
            if r.status != 200:
                raise RuntimeError(f"room-tokens answered {r.status}: {await r.text()}")
            return [{"room_id": x["room_id"], "token": x["token"]} for x in await r.json()]


async def run_cases(b: Bench, only: list[str], timeouts: dict):
    """The cases one after another, each within its time; a failed one is reported and skipped."""
    for name in only:
        for w in b.workers:
            if not w.alive():
                await asyncio.to_thread(w.start)
        log(f"--- {name}")
        t0 = time.monotonic()
        case = getattr(b, f"case_{name}", None)
        try:
            await asyncio.wait_for(case() if case else getattr(_hostile_http, f"case_{name}")(b), timeouts[name])
        except Exception as exc:
            log(f"case {name} failed: {type(exc).__name__}: {exc}")
            traceback.print_exc(file=sys.stderr)
        log(f"--- {name}: {time.monotonic() - t0:.1f} s")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", default=",".join(CASES), help="comma-separated cases: " + ",".join(CASES))
    p.add_argument("--db-cap", type=int, default=50, help="the db case stops above this many connections")
    p.add_argument(
        "--db-guard",
        type=int,
        default=60,
        help="above this many connections the database's idle ones are ended (a shared server)",
    )
    p.add_argument("--grace", type=float, default=5.0, help="SIGNALING_GRACE_S of the servers")
    p.add_argument("--sweep-wait", type=float, default=20.0, help="seconds after the grace period for ghosts to go")
    p.add_argument("--max-rss-mb", type=float, default=3000.0, help="a worker above this is killed")
    p.add_argument("--fuzz-frames", type=int, default=20000)
    p.add_argument("--fuzz-sockets", type=int, default=48)
    p.add_argument("--fuzz-rate", type=float, default=15.0, help="frames/s per socket (under SIGNALING_RATE)")
    p.add_argument("--fuzz-bps", type=float, default=100_000, help="bytes/s per socket")
    p.add_argument("--fuzz-time", type=float, default=90.0)
    p.add_argument("--ghost-flood-s", type=float, default=15.0)
    p.add_argument("--flood-s", type=float, default=60.0)
    p.add_argument("--upload-mb", type=int, default=200)
    p.add_argument("--upload-time", type=float, default=60.0)
    p.add_argument("--render-time", type=float, default=60.0)
    p.add_argument("--redis-down-s", type=float, default=1.0)
    p.add_argument("--redis-wait", type=float, default=30.0)
    args = p.parse_args()
    only = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = set(only) - set(CASES)
    if unknown:
        p.error(f"unknown cases: {', '.join(sorted(unknown))}")
    only = [c for c in CASES if c in only]
    timeouts = {
        "db": 90,
        "fuzz": args.fuzz_time + 60,
        "ghosts": args.grace + args.sweep_wait + args.ghost_flood_s + 60,
        "redis": args.redis_wait + 60,
        "login": 240,
        "upload": 2 * args.upload_time + 60,
        "flood": args.flood_s + 60,
        "render": 2 * args.render_time + 60,
    }
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    base_db = os.environ.get("DATABASE_URL", "")
    if not base_db.startswith(("postgres://", "postgresql://")):
        base_db = "postgres://postgres@127.0.0.1:5432/postgres"
    logs = Path(tempfile.mkdtemp(prefix="hostile-"))
    log(f"logs in {logs}; tree {live.ROOT}")
    out: dict = {k: None for k in KEYS}
    redis = live.OwnRedis(log=logs / "redis.log")
    workers: list[Worker] = []

    def stopped(*_):
        """A run stopped from outside still stops what it started (the database goes on unwinding)."""
        for w in workers:
            w.kill9()
        redis.kill()
        sys.exit(143)

    signal.signal(signal.SIGTERM, stopped)
    try:
        redis.start()
        with live.throwaway_database(base_db) as db_url:
            ports = [live.free_port() for _ in range(2)]
            env = live.server_env(db_url, ports, SIGNALING_GRACE_S=args.grace, REDIS_URL=redis.url)
            for k in ("CONN_MAX_AGE", "DEBUG"):  # the shipped defaults, not a test run's overrides
                env.pop(k, None)
            env.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
            t0 = time.monotonic()
            live.manage(env, "migrate", "--no-input", "-v0")
            seed = json.loads(
                run(
                    env,
                    str(Path(__file__).resolve().parent / "_hostile_seed.py"),
                    "--rooms",
                    str(args.fuzz_sockets + 40),
                )
            )
            workers.extend(Worker(env, port, logs) for port in ports)
            for w in workers:
                w.start()
            seed["rooms"] = asyncio.run(room_links(workers[0].base, seed))
            info = json.loads(run(env, "-c", INSPECT, stdin=json.dumps([r["token"] for r in seed["rooms"]])))
            for r, protos in zip(seed["rooms"], info.pop("subprotocols")):
                r["subprotocols"] = protos
            log(
                f"seeded meeting {seed['meeting_id']} ({len(seed['rooms'])} rooms) and started 2 workers in "
                f"{time.monotonic() - t0:.0f} s; {info}"
            )
            b = Bench(args, workers, redis, seed, db_url, info)
            out = b.out
            out.update(
                {
                    "db_pool_size": info["db_pool_size"],
                    "conn_max_age": info["conn_max_age"],
                    "grace_s": info["grace_s"],
                    "room_token_in": "subprotocol" if seed["rooms"][0]["subprotocols"] else "url",
                }
            )
            b.guard.start()
            try:
                asyncio.run(run_cases(b, only, timeouts))
            finally:
                b.guard.stop()
                out["pg_guard_terminated"] = b.guard.terminated
                out["pg_connections_max_seen"] = b.guard.max_seen
            for w in workers:
                w.stop()
    except Exception as exc:
        log(f"hostile bench failed: {type(exc).__name__}: {exc}")
        traceback.print_exc(file=sys.stderr)
    finally:
        for w in workers:
            w.stop()
        redis.kill()
        print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
