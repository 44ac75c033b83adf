"""Paperless meeting on the socket: the current agenda item and the synced document view (who presents
which page), over confserver.agenda.sync. The chair presents; the room holding the floor may, when allowed."""

from confserver.agenda import sync
from confserver.rooms.models import Meeting

from .control import Actor, Outcome, _agenda_event, _chair_only, db, program


async def agenda_item(actor: Actor, item_id: int | None) -> Outcome:
    _chair_only(actor)
    ev = await db(lambda: sync.set_current_item(actor.user, Meeting(pk=actor.meeting_id), item_id))()
    return Outcome(events=[_agenda_event(ev)])


async def _floor_may_present(actor: Actor) -> bool:
    prog = await program(actor.meeting_id)
    return prog["floor_room"] == actor.room_id and prog["floor_may_present"]


async def present(actor: Actor, version_id: int, page: int) -> Outcome:
    """The chair, or the room holding the floor when the chair allowed it, turns the synced view's page."""
    allowed = await _floor_may_present(actor)
    ev = await db(
        lambda: sync.present(actor.user, Meeting(pk=actor.meeting_id), version_id, page, floor_allowed=allowed)
    )()
    out = Outcome(events=[_agenda_event(ev)])
    if allowed and not await _floor_may_present(actor):
        # The floor moved on while this page was being stored (the program changes first, then
        # ends room presentations): end this one too.
        ended = await db(sync.end_room_presentation)(Meeting(pk=actor.meeting_id))
        if ended is not None:
            out.events.append(_agenda_event(ended))
    return out


async def present_stop(actor: Actor) -> Outcome:
    allowed = await _floor_may_present(actor)
    ev = await db(lambda: sync.stop_presenting(actor.user, Meeting(pk=actor.meeting_id), floor_allowed=allowed))()
    return Outcome(events=[_agenda_event(ev)])


async def sync_state(actor: Actor) -> Outcome:
    state = await db(lambda: sync.get_sync_state(Meeting(pk=actor.meeting_id)))()
    state["sync_seq"] = state.pop("seq")
    for key in ("agenda_item", "present"):
        if state[key]:
            state[key] = _agenda_event(state[key])
    return Outcome(reply=state)
