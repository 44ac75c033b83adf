"""GET /metrics of a real daphne worker (issue 13, item 5): refused without the allowed address or the token (403,
coded), and its counters move when rooms open sockets and join. The database of DATABASE_URL (or SQLite)."""

import asyncio
import json
import os
import re
import time

import aiohttp
import pytest
from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families

from confserver.observability.endpoint import allowed
from confserver.testing import live
from confserver.testing.wsclient import MeetingClient

TOKEN = "metrics-test-token-0123456789"
ACCESS_LINE = re.compile(r"^\S+ - - \[[^]]+\] \"")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    logs = tmp_path_factory.mktemp("daphne")
    port = live.free_port()
    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        # Loopback is not allowed here: this test's scrapes must show the token.
        env = live.server_env(
            db_url,
            [port],
            METRICS_ALLOWED_ADDRESSES="192.0.2.0/24",
            METRICS_TOKEN=TOKEN,
            LOG_FORMAT="json",
            LOG_LEVEL="INFO",
        )
        live.manage(env, "migrate", "--no-input", "-v0")
        seed = json.loads(live.run_python(env, "confserver.testing.seed", "--rooms", "3", "--structure", "2025"))
        with live.daphne(env, port, logs / "w.log"):
            yield f"http://127.0.0.1:{port}", seed, logs / "w.log"


def sample(text: str, name: str, **labels) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    raise AssertionError(f"{name} {labels} not in the scrape")


async def test_a_scrape_without_the_address_or_token_is_refused(server):
    base, _, _ = server
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            async with http.get(f"{base}/metrics", headers=headers) as r:
                assert r.status == 403, headers
                body = await r.json()
                assert body["code"] == "metrics_forbidden" and body["message"], body
        async with http.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}) as r:
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
            assert "confserver_websockets_open" in await r.text()


async def test_sockets_joins_and_events_move(server):
    base, seed, _ = server
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as http:

        async def scrape() -> str:
            async with http.get(f"{base}/metrics", headers=auth) as r:
                assert r.status == 200
                return await r.text()

        before = await scrape()
        chair = await MeetingClient(http, base, seed["meeting_id"], cookie=seed["host_cookie"]).connect()
        room = await MeetingClient(http, base, seed["meeting_id"], token=seed["rooms"][0]["token"]).connect()
        try:
            assert (await chair.request("join", timeout=30))["type"] == "ok"
            assert (await room.request("join", timeout=30))["type"] == "ok"
            # The room's join is an event for the chair: it is sent (counted after the send).
            end = time.monotonic() + 10
            while True:
                during = await scrape()
                if sample(during, "confserver_events_sent_total") > sample(before, "confserver_events_sent_total"):
                    break
                assert time.monotonic() < end, "no event counted as sent"
                await asyncio.sleep(0.1)
            assert sample(during, "confserver_websockets_open") == sample(before, "confserver_websockets_open") + 2
            assert (
                sample(during, "confserver_websockets_opened_total")
                == sample(before, "confserver_websockets_opened_total") + 2
            )
            assert (
                sample(during, "confserver_joins_total", kind="new")
                == sample(before, "confserver_joins_total", kind="new") + 2
            )
        finally:
            await room.close()
            await chair.close()
        end = time.monotonic() + 10
        while sample(after := await scrape(), "confserver_websockets_open") != sample(
            before, "confserver_websockets_open"
        ):
            assert time.monotonic() < end, "sockets still counted open after closing"
            await asyncio.sleep(0.1)
        assert sample(after, "process_cpu_seconds_total") > 0  # the process's own figures come along


def test_the_worker_logs_one_json_object_a_line(server):
    *_, log_path = server
    # daphne's access log is its own stream (stdout, Apache's format; the README says how to turn it off), in the
    # same file here: every other line is a record of Python's logging and must be one JSON object.
    lines = [
        line
        for line in log_path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not ACCESS_LINE.match(line)
    ]
    records = [json.loads(line) for line in lines]
    assert records and all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    assert any(r["logger"].startswith("daphne") for r in records), records  # daphne's own logging too


@override_settings(METRICS_ALLOWED_ADDRESSES=["127.0.0.1", "::1", "10.20.0.0/16"], METRICS_TOKEN="")
def test_allowed_addresses_and_networks():
    assert allowed("127.0.0.1", "") and allowed("::1", "") and allowed("::ffff:127.0.0.1", "")
    assert allowed("10.20.3.4", "") and not allowed("10.21.0.1", "")
    assert not allowed(None, "") and not allowed("garbage", "")
    assert not allowed("192.0.2.1", "Bearer ")  # no token set: none accepted
