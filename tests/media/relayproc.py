"""The relay cascade's processes for tests (issue 11): `manage.py run_relay` and `manage.py run_relay_monitor`,
each writing to a log file of its own, stopped with SIGTERM (killed if still there after 15 s), never left running
when a test fails half-way."""

import asyncio
import signal
import subprocess
import time
import uuid

from confserver.testing import live

STOP_S = 15


def start(env: dict, logs, *args: str, name: str | None = None) -> subprocess.Popen:
    """`manage.py *args` under `env`; its output in `logs/<name or command>-<random>.log` (proc.log)."""
    log = open(logs / f"{name or args[0]}-{uuid.uuid4().hex[:6]}.log", "wb")
    try:
        proc = subprocess.Popen(
            [live.PYTHON, str(live.ROOT / "manage.py"), *args], env=env, cwd=live.ROOT, stdout=log, stderr=log
        )
    except BaseException:
        log.close()
        raise
    proc.log = log
    return proc


def relay(env: dict, logs, channel: str, *extra: str, ready_s: float = 90) -> subprocess.Popen:
    """A relay process serving `channel` (`extra`: --capacity, --advertise ...), returned once it says calls reach
    it ("relay on channel ..."): a call sent before that may be lost (the pub/sub layer drops it)."""
    proc = start(env, logs, "run_relay", "--channel", channel, *extra, name=channel)
    try:
        wait_ready(proc, ready_s)
    except BaseException:
        stop(proc)
        raise
    return proc


def wait_ready(proc: subprocess.Popen, timeout: float) -> None:
    path, end = proc.log.name, time.monotonic() + timeout
    while True:
        proc.log.flush()
        with open(path, "rb") as f:
            text = f.read()
        if b"relay on channel" in text:
            return
        assert proc.poll() is None, f"the relay exited ({proc.returncode}): {text[-3000:].decode(errors='replace')}"
        assert time.monotonic() < end, (
            f"the relay did not serve within {timeout} s: {text[-3000:].decode(errors='replace')}"
        )
        time.sleep(0.1)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Ask it to stop (`sig`), kill it if it is still there after STOP_S; its log closed."""
    try:
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(STOP_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    finally:
        proc.log.close()


async def registered(registry, count: int = 0, ids=(), timeout: float = 90, dead_after_s: float = 1.2) -> list:
    """The live relays once at least `count` of them, and every one of `ids`, beat (a relay takes a while to start
    on a loaded machine)."""
    end = time.monotonic() + timeout
    while True:
        alive = await registry.live(dead_after_s)
        if len(alive) >= count and set(ids) <= {r.id for r in alive}:
            return alive
        assert time.monotonic() < end, f"relays did not register within {timeout} s ({count} or {sorted(ids)})"
        await asyncio.sleep(0.2)
