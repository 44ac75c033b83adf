"""A relay on another "machine" (issue 11, item 5): a network namespace joined to this one by a veth pair stands for
a machine. A `run_relay --advertise <its veth address>` runs inside it and reaches Redis (a redis-server of this
test's own, bound to this side's veth address) and PostgreSQL (a forwarder on that address) over the veth; rooms
(aiortc bots here) reach its media at the advertised address. The meeting runs on it; the link is cut
(`ip link set down`): the monitor here notices (the `relay-plan` event) and the rooms, the chair among them, move to
the relay on this side and decode the chair's new connection (another colour) again. Bounded; cleans up."""

import asyncio
import json
import os
import shutil
import socket
import subprocess
import threading
import time

import aiohttp
import pytest

from confserver.media import registry
from confserver.media.bot import Bot, close_to
from confserver.media.config import IceConfig
from confserver.media.monitor import PLAN_GROUP
from confserver.media.plans import Plans
from confserver.testing import live
from confserver.testing.wsclient import MeetingClient

from .relayproc import registered, relay, start, stop
from .test_failover_process import CHAIR_COLOUR, publish, sees_chair, until

pytestmark = pytest.mark.skipif(
    not os.environ.get("REDIS_URL") or os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("redis-server"),
    reason="namespaces need root and ip; the cascade works on Redis",
)

NEW_CHAIR_COLOUR = (30, 200, 220)
ROOMS = 3


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=20)


class Machine:
    """A namespace joined by a veth pair: `host_ip` on this side, `ip` inside."""

    def __init__(self, tag: str, subnet: int):
        self.ns, self.outer, self.inner = f"g7m{tag}", f"g7h{tag}", f"g7i{tag}"
        self.host_ip, self.ip = f"10.213.{subnet}.1", f"10.213.{subnet}.2"

    def __enter__(self):
        sh("ip", "netns", "add", self.ns)
        try:
            sh("ip", "link", "add", self.outer, "type", "veth", "peer", "name", self.inner)
            sh("ip", "link", "set", self.inner, "netns", self.ns)
            sh("ip", "addr", "add", f"{self.host_ip}/24", "dev", self.outer)
            sh("ip", "link", "set", self.outer, "up")
            for cmd in (
                ("ip", "addr", "add", f"{self.ip}/24", "dev", self.inner),
                ("ip", "link", "set", self.inner, "up"),
                ("ip", "link", "set", "lo", "up"),
            ):
                sh("ip", "netns", "exec", self.ns, *cmd)
        except BaseException:
            self.__exit__()
            raise
        return self

    def cut(self) -> None:
        sh("ip", "link", "set", self.outer, "down")

    def __exit__(self, *exc):
        subprocess.run(["ip", "link", "del", self.outer], capture_output=True, timeout=20)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True, timeout=20)


class Forward:
    """TCP from `listen` to `to`, in threads (the relay inside reaches PostgreSQL on this side's loopback)."""

    def __init__(self, listen: tuple[str, int], to: tuple[str, int]):
        self.to = to
        self.server = socket.create_server(listen)
        self.server.settimeout(0.5)
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                client, _ = self.server.accept()
            except OSError:
                continue
            upstream = socket.create_connection(self.to)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.stopped = True
        self.server.close()


async def test_a_relay_on_another_machine_cut_off_is_noticed_and_its_rooms_move(tmp_path):
    from urllib.parse import urlparse

    from channels_redis.pubsub import RedisPubSubChannelLayer

    tag = str(os.getpid() % 100000)
    with Machine(tag, 100 + os.getpid() % 150) as machine, live.throwaway_database(os.environ["DATABASE_URL"]) as db:
        redis_port = live.free_port()
        own_redis = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(redis_port),
                "--bind",
                f"127.0.0.1 {machine.host_ip}",
                "--protected-mode",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        db_url = urlparse(db)
        pg = Forward((machine.host_ip, 0), (db_url.hostname, db_url.port or 5432))
        inside_db = db_url._replace(netloc=f"{db_url.username}@{machine.host_ip}:{pg.server.getsockname()[1]}").geturl()
        port = live.free_port()
        here, there = f"relay-here-{tag}", f"relay-there-{tag}"
        env = live.server_env(
            db,
            [port],
            REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
            MEDIA_CASCADE="1",
            MEDIA_RELAY_CHANNELS=f"{here},{there}",
        )
        env_here = {**env, "MEDIA_ICE_HOSTS": machine.host_ip}
        env_there = {
            **env,
            "MEDIA_ICE_HOSTS": machine.ip,
            "DATABASE_URL": inside_db,
            "REDIS_URL": f"redis://{machine.host_ip}:{redis_port}/0",
        }
        r = registry.connect(env["REDIS_URL"])
        plans = Plans(r, f"{env['LIVE_PREFIX']}:cascade")
        layer = RedisPubSubChannelLayer(hosts=[env["REDIS_URL"]], prefix=env["CHANNEL_PREFIX"])
        procs, bots = [], []
        ice = IceConfig(host_addresses=(machine.host_ip,))
        try:
            live.manage(env, "migrate", "--no-input", "-v0")
            seed = json.loads(live.run_python(env, "confserver.testing.seed", "--rooms", str(ROOMS)))
            with open(tmp_path / "there.log", "wb") as log:  # the child keeps its own descriptor
                inside = subprocess.Popen(
                    [
                        "ip",
                        "netns",
                        "exec",
                        machine.ns,
                        live.PYTHON,
                        str(live.ROOT / "manage.py"),
                        "run_relay",
                        "--channel",
                        there,
                        "--advertise",
                        machine.ip,
                    ],
                    env=env_there,
                    cwd=live.ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            monitor = start(env, tmp_path, "run_relay_monitor")
            procs.append(monitor)
            [rec] = await registered(plans.registry, ids=[there])
            assert rec.address == machine.ip, rec  # what other machines reach it at
            plan_events = await layer.new_channel()
            await layer.group_add(PLAN_GROUP, plan_events)
            with live.daphne(env, port, tmp_path / "w.log"):
                w = f"http://127.0.0.1:{port}"
                async with aiohttp.ClientSession() as http:
                    clients = [await MeetingClient(http, w, seed["meeting_id"], cookie=seed["host_cookie"]).connect()]
                    clients += [
                        await MeetingClient(http, w, seed["meeting_id"], token=room["token"]).connect()
                        for room in seed["rooms"]
                    ]
                    for c in clients:
                        assert (await c.request("join"))["type"] == "ok"
                    colours = [CHAIR_COLOUR] + [(200 - 40 * i, 60 + 40 * i, 40) for i in range(ROOMS)]
                    bots = [Bot(f"b{i}", colour, publish=not i, ice=ice) for i, colour in enumerate(colours)]
                    for c, bot in zip(clients, bots):
                        await publish(c, bot)
                    for bot in bots[1:]:
                        await until(lambda bot=bot: sees_chair(bot), 60, "every room to decode the chair over the veth")
                    assert set((await plans.load(seed["meeting_id"])).rooms.values()) == {there}
                    procs.append(relay(env_here, tmp_path, here))  # somewhere to go, on this side
                    await registered(plans.registry, ids=[here])

                    async def follow(i: int):
                        _, msg = await clients[i].relay_moves.get()
                        await bots[i].close()
                        bots[i] = Bot(f"b{i}'", NEW_CHAIR_COLOUR if not i else colours[i], publish=not i, ice=ice)
                        await publish(clients[i], bots[i])

                    followers = [asyncio.ensure_future(follow(i)) for i in range(len(clients))]
                    end = time.monotonic() + 60  # the monitor process is up and holds the lease (its start is slow)
                    while not await r.exists(f"{env['LIVE_PREFIX']}:cascade:monitor"):
                        assert time.monotonic() < end, "the monitor did not take the lease"
                        await asyncio.sleep(0.1)
                    machine.cut()
                    cut = time.monotonic()
                    event = await asyncio.wait_for(layer.receive(plan_events), 15)
                    noticed = time.monotonic() - cut
                    assert event["relays"] == [there] and event["reason"] == "dead", event

                    def again(bot):
                        seen = [p.at for p in bot.video[0].pictures if close_to(p.colour, NEW_CHAIR_COLOUR)]
                        return seen[4] if len(seen) >= 5 else None

                    await until(lambda: all(again(b) for b in bots[1:]), 30, "the rooms to decode the chair anew")
                    took = [again(b) - cut for b in bots[1:]]
                    await asyncio.gather(*followers)
                    print(
                        f"machine cut: noticed (relay-plan event) {noticed:.2f} s after the link went down; "
                        f"{len(took)} rooms decode the chair again {min(took):.2f}-{max(took):.2f} s after "
                        f"(load {os.getloadavg()[0]:.1f})"
                    )
                    assert noticed <= 2.0, noticed  # the notice itself: RELAY_DEAD_AFTER_S + a poll after the last beat
                    assert max(took) <= 5.0, took
                    for c in clients:
                        await c.close()
        finally:
            for bot in bots:
                await bot.close()
            for proc in procs:
                stop(proc)
            if "inside" in locals():
                inside.kill()
                inside.wait()
            await layer.flush()
            await r.aclose()
            own_redis.kill()
            own_redis.wait()
            pg.close()
