"""What the hall's projector shows (web/hall.html): the current agenda item, the speaker and their clock and who is
next on that item, the vote (open: how many have voted; closed: the result and its rule)."""

import time

from confserver.rooms.models import Meeting

from . import speakers, voting


def state(meeting: Meeting) -> dict:
    from confserver.agenda import sync
    from confserver.delegates.checkin import quorum

    v = voting.current(meeting.pk)
    vote = None
    if v is not None:
        vote = voting.vote_out(v)
        if v.state == v.OPEN:
            vote["voters"] = voting.counts(v)["voters"]
    listing = speakers.listing(meeting.pk)
    return {
        "server_time": time.time(),
        "meeting": {"id": meeting.pk, "title": meeting.title, "state": meeting.state},
        "agenda_item": (sync.get_sync_state(meeting)["agenda_item"] or {}).get("item"),
        "speaker": listing["current"],
        "next": _next(listing)[:3],
        "vote": vote,
        "quorum": quorum(meeting),
    }


def _next(listing: dict) -> list[dict]:
    """Who waits to speak on the item the meeting is on (those registered on later items wait for theirs)."""
    now = listing["current_item_id"]
    return [s for s in listing["waiting"] if (s["agenda_item"] or {}).get("id") == now]
