"""The operator's view of the relays (issue 11, item 7): which relay serves which rooms, each relay's load, its
links. Read only; the page web/relays.html polls it every second.

  GET /api/relays                  administrators and hosts: every relay the registry knows (live, draining, dead)
  GET /api/meetings/{id}/relays    the meeting's chair side (check_chair): its plan's tree, each room's relay

Cost per call is fixed, not per room: a few pipelined Redis round trips (the registry, the plan read once) and,
for the meeting, one `link_stats` call per relay of its tree, all at once, cut after LINK_TIMEOUT_S.
A relay marked dead leaves the heartbeats (registry.mark_dead) and no index lists it any more, so this module
keeps the ids it has seen in `<prefix>:ops:seen` and shows them while their record lives (an hour).
"""

import asyncio
import logging
from typing import Literal

from asgiref.sync import async_to_sync
from django.conf import settings
from ninja import Router, Schema
from redis.exceptions import RedisError

from confserver.accounts.models import Role
from confserver.errors import Forbidden
from confserver.rooms import meetings, policy
from confserver.rooms.models import Participation

from . import plans as plans_mod
from .placement import DRAINING, LIVE
from .registry import DEAD, Registry, connect, prefix
from .remote import RelayUnavailable

log = logging.getLogger(__name__)

router = Router(tags=["relays"])
LINK_TIMEOUT_S = 0.8
EMBEDDED = (
    "Máy chủ đang chạy ở chế độ nhúng: một bộ chuyển tiếp hình trong chính tiến trình máy chủ phục vụ "
    "mọi phòng; không có sổ đăng ký máy chủ truyền hình (Redis) để hiển thị."
)
NO_PLAN = "Cuộc họp chưa có phương án phân bổ máy chủ truyền hình (chưa có phòng nào mở hình, hoặc chưa bật phân tầng)."


class RelayOut(Schema):
    id: str
    address: str
    capacity: int
    load: int  # rooms connected, or planned when more
    percent: int  # load / capacity, 0-100+
    heartbeat_age_ms: int | None
    state: Literal["live", "draining", "dead"]
    meetings: list[int]
    # the titles of those meetings the viewer may see (policy.visible_meetings); the others stay numbers
    meeting_titles: dict[int, str] = {}


class RelaysOut(Schema):
    mode: Literal["embedded", "registry"]
    message: str | None = None
    relays: list[RelayOut]


class PlanRoomOut(Schema):
    id: int
    name: str


class TreeRelayOut(Schema):
    id: str
    role: Literal["root", "middle", "leaf"]
    parent: str | None
    backup: str | None
    state: Literal["live", "draining", "dead", "unknown"]
    percent: int | None
    subtrees: list[str]
    rooms: list[PlanRoomOut]
    link: dict | None  # the link to its parent as this relay counts it (links.link_stats), None: not reached
    links: dict | None  # all of this relay's links of the meeting


class MeetingRelaysOut(Schema):
    mode: Literal["embedded", "registry"]
    message: str | None = None
    meeting_id: int
    epoch: int
    root: str | None
    levels: int
    relays: list[TreeRelayOut]


def _check_operator(user) -> None:
    if getattr(user, "role", None) not in (Role.HOST, Role.ADMIN) and not getattr(user, "is_superuser", False):
        raise Forbidden("not_host", "Chỉ tài khoản điều hành hoặc quản trị mới xem được các máy chủ truyền hình.")


def _embedded() -> bool:
    return not settings.REDIS_URL


def _unavailable() -> RelayUnavailable:
    return RelayUnavailable("relay_unavailable", "Không đọc được sổ đăng ký máy chủ truyền hình; thử lại sau.")


async def _relays(r) -> list[tuple]:
    """(record, state, meetings) of every relay known: heartbeats (live or late) and those seen before."""
    reg = Registry(r)
    seen_key = f"{prefix()}:ops:seen"
    now, late, alive = await reg.scan(settings.RELAY_DEAD_AFTER_S)
    seen = await r.smembers(seen_key)
    if late or alive:
        await r.sadd(seen_key, *late, *alive)
    ids = sorted(set(late) | set(alive) | set(seen))
    records = await reg.records(ids, now)
    gone = set(ids) - {rec.id for rec in records}
    async with r.pipeline(transaction=False) as p:
        for rec in records:
            p.hkeys(reg.plans_key(rec.id))
        if gone:
            p.srem(seen_key, *gone)
        planned = await p.execute()
    out = []
    for rec, meeting_ids in zip(records, planned):
        dead = rec.state == DEAD or rec.id not in alive
        state = DEAD if dead else (DRAINING if rec.state == DRAINING else LIVE)
        out.append((rec, state, sorted(int(m) for m in meeting_ids)))
    return out


def _percent(rec) -> int:
    return round(100 * rec.load / rec.capacity) if rec.capacity > 0 else 0


async def _registry_view() -> list[dict]:
    r = connect()
    try:
        rows = await _relays(r)
    finally:
        await r.aclose()
    return [
        {
            "id": rec.id,
            "address": rec.address,
            "capacity": rec.capacity,
            "load": rec.load,
            "percent": _percent(rec),
            "heartbeat_age_ms": rec.age_ms,
            "state": state,
            "meetings": ms,
        }
        for rec, state, ms in rows
    ]


@router.get("/relays", response=RelaysOut)
def list_relays(request):
    """Every relay: address, capacity, load, % full, heartbeat age, state, the meetings planned on it."""
    _check_operator(request.auth)
    if _embedded():
        return {"mode": "embedded", "message": EMBEDDED, "relays": []}
    try:
        relays = async_to_sync(_registry_view)()
    except (OSError, RedisError) as exc:
        log.warning("relay registry unreadable: %s", exc)
        raise _unavailable() from None
    if not relays and not settings.MEDIA_RELAY_CHANNELS:
        return {"mode": "embedded", "message": EMBEDDED, "relays": []}
    titles = _visible_titles(request.auth, {m for relay in relays for m in relay["meetings"]})
    for relay in relays:
        relay["meeting_titles"] = {m: titles[m] for m in relay["meetings"] if m in titles}
    return {"mode": "registry", "relays": relays}


def _visible_titles(user, ids: set[int]) -> dict[int, str]:
    """The titles of the meetings among `ids` that `user` may see, in one query for all of them: a host of
    another province sees the relays' load, not what the meetings on them are called."""
    if not ids:
        return {}
    return dict(policy.visible_meetings(user).filter(pk__in=ids).values_list("id", "title"))


async def _link_stats(channel: str, meeting_id: int) -> dict | None:
    from .remote import _client

    try:
        return await asyncio.wait_for(_client().call(channel, "link_stats", {"meeting_id": meeting_id}), LINK_TIMEOUT_S)
    except Exception as exc:  # not reached in time, or refused: the page says "không phản hồi"
        log.info("link_stats of %s: %s", channel, exc)
        return None


async def _meeting_view(meeting_id: int) -> tuple[object, dict, dict]:
    """(plan or None, relay id -> (record, state), relay id -> its link_stats or None)."""
    r = connect()
    try:
        plan = await plans_mod.Plans(r).load(meeting_id)
        rows = await _relays(r) if plan is not None else []
    finally:
        await r.aclose()
    known = {rec.id: (rec, state) for rec, state, _ in rows}
    stats: dict = {}
    if plan is not None:
        tree = sorted(plan.relays())
        reachable = [rid for rid in tree if rid in known and known[rid][1] != DEAD]
        got = await asyncio.gather(*(_link_stats(known[rid][0].channel, meeting_id) for rid in reachable))
        stats = dict(zip(reachable, got))
    return plan, known, stats


def _room_names(meeting_id: int) -> dict[int, str]:
    return dict(Participation.objects.filter(meeting_id=meeting_id).values_list("room_id", "room__name"))


@router.get("/meetings/{meeting_id}/relays", response=MeetingRelaysOut)
def meeting_relays(request, meeting_id: int):
    """The meeting's relay tree: root, middles, leaves with their backups, each relay's rooms and links."""
    meeting = meetings.get_meeting(meeting_id)  # meeting_not_found
    policy.check_chair(request.auth, meeting)  # not_host / outside_subtree
    if _embedded():
        return {
            "mode": "embedded",
            "message": EMBEDDED,
            "meeting_id": meeting.id,
            "epoch": 0,
            "root": None,
            "levels": 1,
            "relays": [],
        }
    try:
        plan, known, stats = async_to_sync(_meeting_view)(meeting.id)
    except (OSError, RedisError) as exc:
        log.warning("relay plan unreadable: %s", exc)
        raise _unavailable() from None
    if plan is None:
        return {
            "mode": "registry",
            "message": NO_PLAN,
            "meeting_id": meeting.id,
            "epoch": 0,
            "root": None,
            "levels": 0,
            "relays": [],
        }
    names = _room_names(meeting.id)
    by_relay: dict[str, list[int]] = {}
    for room_id, relay in plan.rooms.items():
        by_relay.setdefault(relay, []).append(room_id)
    feeds = set(plan.parent.values())
    leaves = plan.leaves()
    out = []
    for rid in sorted(plan.relays(), key=lambda x: (x != plan.root, x)):
        rec, state = known.get(rid, (None, "unknown"))
        role = "root" if rid == plan.root else ("middle" if rid in feeds else "leaf")
        links = stats.get(rid)
        out.append(
            {
                "id": rid,
                "role": role,
                "parent": plan.parent.get(rid),
                "backup": plan.backup.get(rid),
                "state": state,
                "percent": _percent(rec) if rec else None,
                "subtrees": leaves.get(rid, []),
                "rooms": [
                    {"id": room, "name": names.get(room, f"Phòng {room}")} for room in sorted(by_relay.get(rid, []))
                ],
                "link": (links or {}).get("parent"),
                "links": links,
            }
        )
    return {
        "mode": "registry",
        "meeting_id": meeting.id,
        "epoch": plan.epoch,
        "root": plan.root,
        "levels": plan.levels(),
        "relays": out,
    }
