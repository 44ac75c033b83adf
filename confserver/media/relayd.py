"""The relay process's loop: serve calls from the channel layer with the in-process relays."""

import asyncio
import logging

from confserver.errors import DomainError
from confserver.tasks import cancel_and_wait, cancel_surely

from . import links, local, plans, treelinks
from .remote import OPS

log = logging.getLogger(__name__)


async def handle(layer, message: dict):
    op, args, reply_to = message.get("op"), dict(message.get("args") or {}), message.get("reply_to")
    reply = {"type": "relay.reply", "call": message.get("call")}
    try:
        if op not in OPS:
            raise DomainError("bad_op", f"unknown relay operation {op!r}")
        # Fencing (issue 11, media/plans.py): a call carrying an older plan epoch than the meeting's is refused;
        # a call without one is served as before.
        epoch = message.get("epoch", args.pop("epoch", None))
        if epoch is not None:
            await plans.check_epoch(args.get("meeting_id"), epoch)
        if op == "open_peer":
            args["muted"] = set(args.get("muted") or ())
        result = await getattr(links if op in links.OPS else local, op)(**args)
        if op == "quality":
            result = {str(k): v for k, v in result.items()}
        treelinks.note(args.get("meeting_id"), epoch, op)  # a newer plan: this relay's parent link follows it
        reply["result"] = result
    except DomainError as exc:
        reply["error"] = [exc.code, exc.message]
    except Exception:
        log.exception("relay op %s failed", op)
        reply["error"] = ["relay_error", "Lỗi máy chủ truyền hình."]
    if reply_to:
        await layer.send(reply_to, reply)


READY_PROBE = "ready_probe"
PROBE_EVERY_S = 0.2


async def serve(layer, channel: str, stop: asyncio.Event | None = None, ready: asyncio.Event | None = None):
    """Serve `channel` until `stop` is set; each call runs as its own task (an offer takes a while).

    `ready` is set once a message sent to `channel` has come back: on the pub/sub layer a message sent before the
    subscription is live is lost, so a relay that says it serves (or registers) earlier loses the first calls."""
    tasks: set[asyncio.Task] = set()
    stop = stop or asyncio.Event()
    ready = ready or asyncio.Event()
    probing = asyncio.ensure_future(_probe(layer, channel, ready))
    try:
        while not stop.is_set():
            receive = asyncio.ensure_future(layer.receive(channel))
            stopper = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({receive, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if receive not in done:
                cancel_surely(receive)
                break
            stopper.cancel()
            message = receive.result()
            if message.get("op") == READY_PROBE:
                if not ready.is_set():
                    log.warning("relay serving %s", channel)
                    ready.set()
                continue
            task = asyncio.ensure_future(handle(layer, message))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        await cancel_and_wait([probing, *tasks])  # again and again: see confserver/tasks.py
        await local.close_all()


async def _probe(layer, channel: str, ready: asyncio.Event) -> None:
    """Send a probe to our own channel until one comes back (the first ones may go before we listen)."""
    while not ready.is_set():
        await layer.send(channel, {"type": "relay.call", "op": READY_PROBE})
        try:
            await asyncio.wait_for(ready.wait(), PROBE_EVERY_S)
        except TimeoutError:
            pass
