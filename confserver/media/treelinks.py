"""A relay process keeps its meetings' parent links as their plans say (issue 11, item 1).

The plan (plans.py: `parent`, relay -> the relay feeding it) names each relay's parent per meeting; the relay
itself makes it so: it dials its parent (links.dial_link: the child offers, the parent answers), replaces a link to
a parent the plan no longer names (a dead root re-planned: its backup is the new root), and closes its link when
the plan makes it the root or leaves it out. It acts when it learns of a newer epoch for a meeting it serves: a call
carrying one (relayd.handle -> `note`), or a re-plan the monitor publishes on the `relay-plan` group (`follow`).
Only meetings with a relay in this process are linked (a meeting ended here is not brought back by a late event).
"""

import asyncio
import json
import logging

from . import links, local, plans

log = logging.getLogger(__name__)

RETRY_S = 0.5
ATTEMPTS = 6  # a parent that does not answer (dead, or not yet serving): the monitor's re-plan comes meanwhile

_me: str | None = None  # this process's relay id (its channel)
_synced: dict[int, int] = {}  # meeting -> the epoch its links follow
_wanted: dict[int, int] = {}  # meeting -> the newest epoch heard of
_tasks: dict[int, asyncio.Task] = {}


def start(relay_id: str) -> None:
    """This process is relay `relay_id`: from now on its links follow the plans."""
    global _me
    _me = relay_id


def note(meeting_id, epoch, op: str | None = None) -> None:
    """A call for `meeting_id` carried `epoch`: when it is newer than what the links follow, follow it."""
    if _me is None or epoch is None or meeting_id is None:
        return
    if op == "end_meeting":
        forget(int(meeting_id))
        return
    meeting_id, epoch = int(meeting_id), int(epoch)
    if epoch <= max(_synced.get(meeting_id, 0), _wanted.get(meeting_id, 0)):
        return
    _wanted[meeting_id] = epoch
    if meeting_id not in _tasks:
        task = _tasks[meeting_id] = asyncio.ensure_future(_run(meeting_id))
        task.add_done_callback(lambda _t, m=meeting_id: _tasks.pop(m, None))


def forget(meeting_id: int) -> None:
    _synced.pop(meeting_id, None)
    _wanted.pop(meeting_id, None)


async def _run(meeting_id: int) -> None:
    failures = 0
    while _wanted.get(meeting_id, 0) > _synced.get(meeting_id, 0):
        target = _wanted[meeting_id]
        try:
            epoch = await sync(meeting_id)
            _synced[meeting_id] = max(target, epoch)
            failures = 0
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures += 1
            log.warning("meeting %s: linking to the plan's parent failed (%s), attempt %d", meeting_id, exc, failures)
            if failures >= ATTEMPTS:  # the next call or re-plan tries again
                _wanted[meeting_id] = _synced.get(meeting_id, 0)
                return
            await asyncio.sleep(RETRY_S)


async def _tree(meeting_id: int) -> tuple[int, dict | None]:
    ps = plans.default()
    epoch, tree = await ps.r.hmget(ps.key(meeting_id), "epoch", "tree")
    return int(epoch or 0), (json.loads(tree) if tree else None)


def parent_in(tree: dict | None, relay_id: str) -> str | None:
    """The relay feeding `relay_id` in a plan's tree (None: it is the root, or not in the tree)."""
    if not tree or tree.get("root") == relay_id:
        return None
    return (tree.get("parent") or {}).get(relay_id)


async def sync(meeting_id: int, tree: dict | None = None, epoch: int | None = None) -> int:
    """Make this relay's parent link of `meeting_id` the one its plan names; returns the plan's epoch."""
    if tree is None:
        epoch, tree = await _tree(meeting_id)
    relay = local._relays.get(meeting_id)
    if relay is None:
        return epoch or 0
    want = parent_in(tree, _me)
    current = relay._parent
    have = getattr(current, "parent_channel", None) if current is not None else None
    if want is not None and (have != want or current.state in ("failed", "closed")):
        log.warning("meeting %s: %s links to %s (epoch %s)", meeting_id, _me, want, epoch)
        await links.dial_link(meeting_id, want, _me)  # the old link closes once the new one took over
        if have is not None and have != want:
            await _tell_parent_closed(meeting_id, have)
    elif want is None and current is not None:
        log.warning(
            "meeting %s: %s is %s now; its link to %s closes",
            meeting_id,
            _me,
            "the root" if tree and tree.get("root") == _me else "out of the plan",
            have,
        )
        await current.close()
        if have is not None:
            await _tell_parent_closed(meeting_id, have)
    return epoch or 0


async def _tell_parent_closed(meeting_id: int, parent_channel: str) -> None:
    from . import remote

    try:
        await remote._client().call(
            parent_channel, "close_link", {"meeting_id": meeting_id, "link_id": _me}, wait=False
        )
    except Exception:  # a dead parent: nothing to tell
        pass


async def follow(layer, stop: asyncio.Event) -> None:
    """Listen to the monitor's re-plans (`relay-plan`) and follow those naming this relay, until `stop`."""
    from .monitor import PLAN_GROUP

    channel = await layer.new_channel("relaylinks.")
    await layer.group_add(PLAN_GROUP, channel)
    try:
        while not stop.is_set():
            receive = asyncio.ensure_future(layer.receive(channel))
            stopper = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({receive, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if receive not in done:
                receive.cancel()
                break
            event = receive.result()
            if event.get("type") == "relay.plan":
                note(event.get("meeting_id"), event.get("epoch"))
    finally:
        try:
            await layer.group_discard(PLAN_GROUP, channel)
        except Exception:
            pass
