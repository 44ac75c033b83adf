"""Room bots (media/bot.py) in processes of their own, driven from a test or a bench over a pipe (JSON lines).

A test process that signals for a dozen rooms and also decodes their video stalls its own event loop, and a stall
there shows as a gap in the bots' pictures that is not the server's. Here each process holds a few bots; it reports
their decoded pictures, every frame given to a decoder timed at the kernel (`VideoIn.encoded`, unmoved by a stall)
and its own event loop's stalls, all in time.monotonic() (one clock for every process of the machine).

    python -m tests.media.botproc    (the child; BotProcess starts it)
"""

import asyncio
import contextlib
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STOP_S = 10


class BotProcess:
    """The parent's end: `await BotProcess.start(log)`, `await p.call(op, **args)`, `await p.stop()`."""

    def __init__(self, proc, log):
        self.proc, self.log = proc, log
        self.pending: dict[int, asyncio.Future] = {}
        self.ids = 0
        self.reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, log_path) -> "BotProcess":
        log = open(log_path, "wb")
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.media.botproc",
                cwd=ROOT,
                env=env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                limit=64 * 1024 * 1024,
            )
        except BaseException:
            log.close()
            raise
        return cls(proc, log)

    async def _read(self) -> None:
        try:
            while line := await self.proc.stdout.readline():
                reply = json.loads(line)
                fut = self.pending.pop(reply["id"], None)
                if fut is not None and not fut.done():
                    if "error" in reply:
                        fut.set_exception(RuntimeError(f"bot process: {reply['error']}"))
                    else:
                        fut.set_result(reply["result"])
        finally:
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_exception(RuntimeError(f"bot process exited ({self.log.name})"))

    async def call(self, op: str, timeout: float = 60, **args):
        self.ids += 1
        fut = self.pending[self.ids] = asyncio.get_running_loop().create_future()
        self.proc.stdin.write(json.dumps({"id": self.ids, "op": op, **args}).encode() + b"\n")
        await self.proc.stdin.drain()
        return await asyncio.wait_for(fut, timeout)

    async def stop(self) -> None:
        """Its bots closed and the process gone (killed if it has not left within STOP_S)."""
        try:
            if self.proc.returncode is None:
                try:
                    await self.call("quit", timeout=STOP_S)
                except Exception:
                    pass
                try:
                    await asyncio.wait_for(self.proc.wait(), STOP_S)
                except TimeoutError:
                    self.proc.kill()
                    await self.proc.wait()
        finally:
            self.reader.cancel()
            self.log.close()


@contextlib.contextmanager
def ahead_of_the_machine(nice: int = -10):
    """This process's autogroup (its session: the relays, workers and bots it starts) at `nice` meanwhile, its own
    nice after: a figure of the product, not of the wait for a core that other work on a shared 2-core machine holds.
    Nothing changes if refused."""
    path = Path("/proc/self/autogroup")
    try:
        before = path.read_text().split()[-1]  # "/autogroup-42 nice 0"
        path.write_text(str(nice))
    except (OSError, IndexError):
        yield False
        return
    try:
        yield True
    finally:
        try:
            path.write_text(before)
        except OSError:
            pass


# --- the child -------------------------------------------------------------------------------------------


class _Child:
    def __init__(self):
        from confserver.media.bot import Bot

        self.Bot = Bot
        self.bots: dict[str, Bot] = {}
        self.lags: list[tuple[float, float]] = []  # (when, how late a 20 ms sleep woke)

    async def lag_loop(self, tick: float = 0.02) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(tick)
            now = time.monotonic()
            self.lags.append((now, now - before - tick))

    async def new(self, name, colour, publish=False):
        bot = self.bots[name] = self.Bot(name, tuple(colour), publish=publish, arrivals=True)
        return await bot.offer()

    async def accept(self, name, sdp):
        await self.bots[name].accept(sdp)

    async def wait_picture(self, name, colour, wait_s):
        """When (monotonic) the bot decoded its first picture of `colour`."""
        from confserver.media.bot import close_to

        bot, end = self.bots[name], time.monotonic() + wait_s
        while time.monotonic() < end:
            for p in bot.video[0].pictures:
                if close_to(p.colour, tuple(colour)):
                    return p.at
            await asyncio.sleep(0.02)
        raise TimeoutError(f"{name}: no picture of {colour} within {wait_s} s")

    async def sees(self, name, colour):
        from confserver.media.bot import close_to

        pics = self.bots[name].video[0].pictures
        return bool(pics) and close_to(pics[-1].colour, tuple(colour))

    async def block(self, seconds):
        """Hold this process's event loop (a check that a stall does not move the kernel's times)."""
        time.sleep(seconds)

    async def close(self, name):
        await self.bots[name].close()

    async def report(self, names, colour, lo, hi):
        """Per bot: its pictures of `colour` and the frames its decoder was given, within [lo, hi]; this process's
        worst loop stall in that window (ms)."""
        from confserver.media.bot import close_to

        out = {}
        for name in names:
            video = self.bots[name].video[0]
            out[name] = {
                "pictures": [p.at for p in video.pictures if lo <= p.at <= hi and close_to(p.colour, tuple(colour))],
                "frames": [(at, key) for at, key in video.encoded if lo <= at <= hi],
                "untimed": self.bots[name].untimed,
            }
        stall = max((lag for at, lag in self.lags if lo <= at <= hi), default=0.0)
        stalls = [(at, round(lag * 1000)) for at, lag in self.lags if lo <= at <= hi and lag > 0.1]
        return {"bots": out, "stall_ms": round(stall * 1000), "stalls": stalls}

    async def quit(self):
        await asyncio.gather(*(bot.close() for bot in self.bots.values()), return_exceptions=True)


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer
    child = _Child()
    lag = asyncio.ensure_future(child.lag_loop())
    tasks: set[asyncio.Task] = set()

    async def handle(msg: dict) -> None:
        op, msg_id = msg.pop("op"), msg.pop("id")
        try:
            reply = {"id": msg_id, "result": await getattr(child, op)(**msg)}
        except Exception as exc:
            reply = {"id": msg_id, "error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply).encode() + b"\n")
        out.flush()

    while line := await reader.readline():
        msg = json.loads(line)
        if msg["op"] == "quit":
            await handle(msg)
            break
        task = asyncio.ensure_future(handle(msg))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    lag.cancel()
    for task in tasks:
        task.cancel()
    await child.quit()


if __name__ == "__main__":
    asyncio.run(_serve())
