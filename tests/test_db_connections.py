"""Issue 9, finding 1: HTTP requests to a live daphne do not leave a database connection each behind."""

import asyncio
import json
import os
from pathlib import Path
from urllib.parse import urlparse

import aiohttp
import pytest

from confserver.testing import live

POOL_MAX = 5
REQUESTS = 240


def _is_postgres(url: str | None) -> bool:
    return bool(url) and url.startswith(("postgres://", "postgresql://"))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = live.free_port()
    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        env = live.server_env(db_url, [port], DB_POOL_MAX=POOL_MAX, DB_POOL_MIN=1)
        env.pop("CONN_MAX_AGE", None)  # the deployed default, not the test runner's override
        live.manage(env, "migrate", "--no-input", "-v0")
        seed = json.loads(live.run_python(env, "confserver.testing.seed", "--rooms", "2", "--structure", "2025"))
        log = tmp_path_factory.mktemp("daphne") / "daphne.log"
        with live.daphne(env, port, log) as proc:
            yield f"http://127.0.0.1:{port}", seed, db_url, proc


def _pg_connections(db_url: str) -> int:
    import psycopg

    u = urlparse(db_url)
    admin = u._replace(path="/postgres").geturl().replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (u.path[1:],)).fetchone()[0]


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def _hammer(base: str, seed: dict, n: int, on_batch):
    """`n` API calls that read the database, half with the chair's session and half with a room token."""
    mid = seed["meeting_id"]
    host = {"Cookie": f"sessionid={seed['host_cookie']}"}
    room = {"Authorization": f"Bearer {seed['rooms'][0]['token']}"}
    calls = [
        (f"/api/meetings/{mid}", host),
        (f"/api/meetings/{mid}/attendance", host),
        (f"/api/meetings/{mid}", room),
        (f"/api/agenda/meetings/{mid}/items", room),
    ]
    statuses = []
    async with aiohttp.ClientSession() as http:

        async def one(i):
            path, headers = calls[i % len(calls)]
            async with http.get(base + path, headers=headers) as r:
                await r.read()
                statuses.append(r.status)

        for start in range(0, n, 20):
            await asyncio.gather(*(one(i) for i in range(start, min(n, start + 20))))
            await asyncio.sleep(0.1)  # each response is sent before its request's connection is closed
            if not on_batch():
                break  # already over the bound: stop before a leak exhausts the shared server
    return statuses


async def test_database_connections_stay_bounded(server):
    base, seed, db_url, proc = server
    if _is_postgres(db_url):

        def measure():
            return _pg_connections(db_url)

        bound = POOL_MAX
    else:
        if not Path(f"/proc/{proc.pid}/fd").exists():
            pytest.skip("SQLite: needs /proc to count the worker's open files")
        baseline = _open_fds(proc.pid)

        def measure():
            return _open_fds(proc.pid) - baseline

        # The client's 20 keep-alive sockets and a few files; before issue 9 it grew ~2 per request.
        bound = 30
    seen = []

    def note():
        seen.append(measure())
        return seen[-1] <= bound

    statuses = await _hammer(base, seed, REQUESTS, note)
    await asyncio.sleep(0.5)
    seen.append(measure())
    assert max(seen) <= bound, seen
    assert statuses.count(200) == REQUESTS, sorted(set(statuses))
