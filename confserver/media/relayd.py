"""The relay process's loop: serve calls from the channel layer with the in-process relays."""
import asyncio
import logging

from confserver.errors import DomainError

from . import local
from .remote import OPS

log = logging.getLogger(__name__)


async def handle(layer, message: dict):
    op, args, reply_to = message.get("op"), dict(message.get("args") or {}), message.get("reply_to")
    reply = {"type": "relay.reply", "call": message.get("call")}
    try:
        if op not in OPS:
            raise DomainError("bad_op", f"unknown relay operation {op!r}")
        if op == "open_peer":
            args["muted"] = set(args.get("muted") or ())
        result = await getattr(local, op)(**args)
        if op == "quality":
            result = {str(k): v for k, v in result.items()}
        reply["result"] = result
    except DomainError as exc:
        reply["error"] = [exc.code, exc.message]
    except Exception:
        log.exception("relay op %s failed", op)
        reply["error"] = ["relay_error", "Lỗi máy chủ truyền hình."]
    if reply_to:
        await layer.send(reply_to, reply)


async def serve(layer, channel: str, stop: asyncio.Event | None = None):
    """Serve `channel` until `stop` is set; each call runs as its own task (an offer takes a while)."""
    tasks: set[asyncio.Task] = set()
    stop = stop or asyncio.Event()
    log.warning("relay serving %s", channel)
    try:
        while not stop.is_set():
            receive = asyncio.ensure_future(layer.receive(channel))
            stopper = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({receive, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if receive not in done:
                receive.cancel()
                break
            stopper.cancel()
            task = asyncio.ensure_future(handle(layer, receive.result()))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await local.close_all()
