"""Speaker registration (đăng ký phát biểu, issue 14 item 4): a delegate registers on an agenda item with a short
topic (the current item or any later one: the chair keeps a list per item); the chair orders the list, calls a
speaker (with a time limit) and ends them. A remote room's delegate's room gets the floor when called, through the
meeting control's own grant_floor. Every step is in the timeline, and its rows go live to the chair's consoles with
the list (fanout.push)."""

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from confserver.errors import Conflict, NotFound
from confserver.rooms import timeline
from confserver.rooms.models import Meeting

from . import fanout
from .models import Speaker
from .voting import ACTIVE

MAX_LIMIT_S = 3600


def _ts(dt):
    return dt.timestamp() if dt else None


def speaker_out(s: Speaker) -> dict:
    d = s.delegate
    item = s.agenda_item
    return {
        "id": s.id,
        "state": s.state,
        "topic": s.topic,
        "position": s.position,
        "delegate": {
            "id": d.id,
            "name": d.name,
            "position": d.position,
            "unit": d.unit,
            "seat": d.seat,
            "room_id": d.room_id,
            "room_name": d.room.name if d.room is not None else None,
        },
        "agenda_item": {"id": item.id, "position": item.position, "title": item.title} if item else None,
        "registered_at": _ts(s.registered_at),
        "called_at": _ts(s.called_at),
        "ended_at": _ts(s.ended_at),
        "limit_s": s.limit_s,
    }


def _rows(meeting_id: int):
    return Speaker.objects.select_related("delegate__room", "agenda_item").filter(meeting_id=meeting_id)


def current_item_id(meeting_id: int) -> int | None:
    """The agenda item the meeting is on now (None: none chosen)."""
    from confserver.agenda.models import LiveState

    return LiveState.objects.filter(meeting_id=meeting_id).values_list("current_item_id", flat=True).first()


def listing(meeting_id: int) -> dict:
    """{current, waiting (in the chair's order, every item's), done (latest first), current_item_id}: a page shows
    one item's list by each registration's `agenda_item`."""
    rows = list(_rows(meeting_id).exclude(state=Speaker.WITHDRAWN))
    current = next((s for s in rows if s.state == Speaker.SPEAKING), None)
    done = sorted((s for s in rows if s.state == Speaker.DONE), key=lambda s: s.ended_at, reverse=True)
    return {
        "current": speaker_out(current) if current else None,
        "waiting": [speaker_out(s) for s in rows if s.state == Speaker.WAITING],
        "done": [speaker_out(s) for s in done],
        "current_item_id": current_item_id(meeting_id),
    }


def _changed(meeting_id: int, *rows) -> None:
    """The new list to the delegates and the chair; the timeline `rows` of the change to the chair's log."""
    fanout.push(meeting_id, {"event": "speakers", "meeting_id": meeting_id, **listing(meeting_id)}, rows)


def _about(s: Speaker) -> dict:
    """What a timeline row about registration `s` says of it: which one, the delegate, their room."""
    d = s.delegate
    return {"room": d.room, "speaker_id": s.id, "delegate_id": d.pk, "name": d.name}


def _check_active(meeting: Meeting) -> None:
    if meeting.state not in ACTIVE:
        raise Conflict("bad_state", "Chỉ đăng ký phát biểu được khi cuộc họp đang chạy thử hoặc đang họp.")


def register(delegate, agenda_item_id: int | None, topic: str) -> Speaker:
    """The delegate asks to speak on an item (the current one when None), the current one or any after it in the
    agenda's order; once per item while waiting."""
    from confserver.agenda.models import AgendaItem
    from confserver.delegates.checkin import is_checked_in

    meeting = delegate.meeting
    _check_active(meeting)
    if not is_checked_in(delegate):
        raise Conflict("not_checked_in", "Đại biểu chưa điểm danh nên chưa đăng ký phát biểu được.")
    topic = topic.strip()
    if not topic:
        raise Conflict("empty_topic", "Hãy ghi ngắn gọn nội dung muốn phát biểu.")
    now_on = current_item_id(meeting.pk)
    if agenda_item_id is None:
        agenda_item_id = now_on
    item = None
    if agenda_item_id is not None:
        item = AgendaItem.objects.filter(pk=agenda_item_id, meeting_id=meeting.pk).first()
        if item is None:
            raise NotFound("item_not_found", f"Không có nội dung họp {agenda_item_id} trong cuộc họp này.")
        on = AgendaItem.objects.filter(pk=now_on).values_list("position", "id").first() if now_on else None
        if on is not None and (item.position, item.id) < on:
            raise Conflict(
                "item_passed",
                "Nội dung này đã qua; chỉ đăng ký phát biểu cho nội dung đang thảo luận hoặc các nội dung sau.",
            )
    with transaction.atomic():
        if Speaker.objects.filter(delegate=delegate, agenda_item=item, state=Speaker.WAITING).exists():
            raise Conflict("already_registered", "Đại biểu đã đăng ký phát biểu nội dung này.")
        last = Speaker.objects.filter(meeting_id=meeting.pk).aggregate(m=Max("position"))["m"] or 0
        s = Speaker.objects.create(
            meeting_id=meeting.pk, agenda_item=item, delegate=delegate, topic=topic, position=last + 1
        )
        _changed(
            meeting.pk,
            timeline.record(meeting, "speaker_registered", **_about(s), topic=topic, agenda_item_id=agenda_item_id),
        )
    return s


def _get(meeting_id: int, speaker_id: int, *, lock=False) -> Speaker:
    qs = _rows(meeting_id)
    s = (
        (qs.select_for_update(of=("self",)) if lock else qs).filter(pk=speaker_id).first()
        if 0 < speaker_id < 2**63
        else None
    )
    if s is None:
        raise NotFound("speaker_not_found", f"Không có đăng ký phát biểu {speaker_id} trong cuộc họp này.")
    return s


def withdraw(delegate, speaker_id: int) -> None:
    with transaction.atomic():
        s = _get(delegate.meeting_id, speaker_id, lock=True)
        if s.delegate_id != delegate.pk:
            raise NotFound("speaker_not_found", f"Không có đăng ký phát biểu {speaker_id} của đại biểu này.")
        if s.state != Speaker.WAITING:
            raise Conflict("speaker_not_waiting", "Đăng ký này không còn chờ phát biểu.")
        s.state = Speaker.WITHDRAWN
        s.save(update_fields=["state"])
        _changed(delegate.meeting_id, timeline.record(delegate.meeting, "speaker_withdrawn", **_about(s)))


def reorder(user, meeting: Meeting, ids: list[int]) -> None:
    """The chair's order of the waiting list: `ids` first, in this order, the rest after them as they were."""
    with transaction.atomic():
        waiting = list(
            Speaker.objects.select_for_update()
            .filter(meeting=meeting, state=Speaker.WAITING)
            .order_by("position", "id")
        )
        known = {s.id: s for s in waiting}
        unknown = [i for i in ids if i not in known]
        if unknown or len(set(ids)) != len(ids):
            raise Conflict("bad_order", "Danh sách thứ tự có đăng ký không còn chờ hoặc bị lặp.")
        ordered = [known[i] for i in ids] + [s for s in waiting if s.id not in set(ids)]
        for pos, s in enumerate(ordered, start=1):
            s.position = pos
        Speaker.objects.bulk_update(ordered, ["position"])
        _changed(meeting.pk, timeline.record(meeting, "speakers_ordered", actor=user, order=[s.id for s in ordered]))


def call(user, meeting: Meeting, speaker_id: int, limit_s: int | None) -> Speaker:
    """Give the floor to a registered speaker (the one speaking now, if any, is ended first). A remote room's
    delegate: their room gets the floor, with the same limit on the room's own clock."""
    _check_active(meeting)
    if limit_s is not None and not 0 < limit_s <= MAX_LIMIT_S:
        raise Conflict("bad_limit", "Thời gian phát biểu phải từ 1 giây đến 60 phút.")
    s = _get(meeting.pk, speaker_id)
    if s.state != Speaker.WAITING:
        raise Conflict("speaker_not_waiting", "Đăng ký này không còn chờ phát biểu.")
    before = _rows(meeting.pk).filter(state=Speaker.SPEAKING).values_list("delegate__room_id", flat=True).first()
    if s.delegate.room_id:
        _give_room_floor(user, meeting, s.delegate.room_id, limit_s)  # refused (room offline...): nothing changed
    elif before:
        _take_room_floor(user, meeting, before)  # a hall speaker after a remote room's: the room's floor ends
    now = timezone.now()
    with transaction.atomic():
        s = _get(meeting.pk, speaker_id, lock=True)
        if s.state != Speaker.WAITING:
            raise Conflict("speaker_not_waiting", "Đăng ký này không còn chờ phát biểu.")
        ended = [
            _end(user, meeting, cur, now)
            for cur in _rows(meeting.pk).select_for_update(of=("self",)).filter(state=Speaker.SPEAKING)
        ]
        s.state, s.called_at, s.limit_s = Speaker.SPEAKING, now, limit_s
        s.save(update_fields=["state", "called_at", "limit_s"])
        called = timeline.record(
            meeting, "speaker_called", **_about(s), actor=user, at=now, topic=s.topic, limit_s=limit_s
        )
        _changed(meeting.pk, *ended, called)
    return s


def set_limit(user, meeting: Meeting, speaker_id: int, limit_s: int | None) -> None:
    if limit_s is not None and not 0 < limit_s <= MAX_LIMIT_S:
        raise Conflict("bad_limit", "Thời gian phát biểu phải từ 1 giây đến 60 phút.")
    with transaction.atomic():
        s = _get(meeting.pk, speaker_id, lock=True)
        if s.state != Speaker.SPEAKING:
            raise Conflict("speaker_not_speaking", "Đại biểu này không đang phát biểu.")
        s.limit_s = limit_s
        s.save(update_fields=["limit_s"])
        _changed(meeting.pk, timeline.record(meeting, "speaker_limit", actor=user, speaker_id=s.id, limit_s=limit_s))
    if s.delegate.room_id:
        _room_limit(user, meeting, s.delegate.room_id, limit_s)


def end(user, meeting: Meeting, speaker_id: int) -> None:
    with transaction.atomic():
        s = _get(meeting.pk, speaker_id, lock=True)
        if s.state != Speaker.SPEAKING:
            raise Conflict("speaker_not_speaking", "Đại biểu này không đang phát biểu.")
        _changed(meeting.pk, _end(user, meeting, s, timezone.now()))
    if s.delegate.room_id:
        _take_room_floor(user, meeting, s.delegate.room_id)


def _end(user, meeting, s: Speaker, now):
    """`s` stops speaking at `now`; its timeline row."""
    s.state, s.ended_at = Speaker.DONE, now
    s.save(update_fields=["state", "ended_at"])
    return timeline.record(
        meeting, "speaker_ended", **_about(s), actor=user, at=now, spoke_s=round((now - s.called_at).total_seconds())
    )


# ---- the room's floor, through the meeting control (confserver/signaling/control.py) ---------------------------


def _chair(user, meeting):
    from confserver.signaling import control

    actor, _ = control.authorize(user, meeting.pk)
    return actor


def _give_room_floor(user, meeting, room_id, limit_s):
    from confserver.signaling import control
    from confserver.signaling.consumers import tell_sync

    actor = _chair(user, meeting)
    tell_sync(meeting.pk, control.grant_floor, actor, room_id)
    if limit_s is not None:
        tell_sync(meeting.pk, control.set_floor_limit, actor, limit_s)


def _if_room_speaks(user, meeting, room_id, action):
    """`await action(actor)` in the meeting control, only while `room_id` still has the floor (the chair may have
    moved it meanwhile)."""
    from confserver.signaling import control
    from confserver.signaling.consumers import tell_sync

    async def only_if_speaking(actor):
        if (await control.program(meeting.pk))["floor_room"] != room_id:
            return control.Outcome()
        return await action(actor)

    tell_sync(meeting.pk, only_if_speaking, _chair(user, meeting))


def _room_limit(user, meeting, room_id, limit_s):
    from confserver.signaling import control

    _if_room_speaks(user, meeting, room_id, lambda actor: control.set_floor_limit(actor, limit_s))


def _take_room_floor(user, meeting, room_id):
    """End the room's floor if it still has it."""
    from confserver.signaling import control

    _if_room_speaks(user, meeting, room_id, control.revoke_floor)
