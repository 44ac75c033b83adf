"""HTTP API of speakers and votes (mounted at /api/votes). Delegates call with their link
(`Authorization: Delegate <token>`, confserver/delegates/access.py); the chair and the hall screen with a session."""

import time

from channels.db import database_sync_to_async
from ninja import Router

from confserver.rooms import meetings, policy
from confserver.rooms.api import ERRORS

from . import ballots, hall, speakers, voting
from .schemas import BallotIn, LimitIn, OrderIn, RegisterIn, VoteIn

router = Router(tags=["votes"])


def _delegate(request, meeting_id: int):
    from confserver.delegates.access import delegate_for_request

    return delegate_for_request(request, meeting_id)


def _chaired(request, meeting_id: int):
    m = meetings.get_meeting(meeting_id)
    policy.check_chair(request.auth, m)
    return m


# ---- delegates ------------------------------------------------------------------------------------------------


@router.get("/meetings/{meeting_id}/mine", auth=None, response={200: dict, **ERRORS})
def mine(request, meeting_id: int):
    """The delegate's view: the current vote (whether and how they voted) and the speakers' list."""
    d = _delegate(request, meeting_id)
    return {
        "server_time": time.time(),
        "delegate_id": d.pk,
        **voting.delegate_view(d, voting.current(meeting_id)),
        "speakers": speakers.listing(meeting_id),
    }


def _cast_sync(request, meeting_id: int, vote_id: int, body: BallotIn) -> ballots.Cast:
    from confserver.delegates.access import token_of

    token = token_of(request)
    if token is not None:
        return ballots.cast_with_link(token, meeting_id, vote_id, body.choice, body.key)
    return ballots.cast(_delegate(request, meeting_id), vote_id, body.choice, body.key)


# Async, its database work in the thread pool (thread_sensitive=False, like signaling.control.db): a sync view
# runs in the worker's one thread for sync code, so a burst of ballots would be cast one after the other.
_cast = database_sync_to_async(_cast_sync, thread_sensitive=False)


@router.post("/meetings/{meeting_id}/votes/{vote_id}/ballot", auth=None, response={200: dict, **ERRORS})
async def cast(request, meeting_id: int, vote_id: int, body: BallotIn):
    """Cast the delegate's ballot; answered only once it is committed."""
    c = await _cast(request, meeting_id, vote_id, body)
    return {"vote_id": c.vote_id, "counted": True, "choice": c.choice, "replay": c.replay}


@router.post("/meetings/{meeting_id}/speakers", auth=None, response={200: dict, **ERRORS})
def register(request, meeting_id: int, body: RegisterIn):
    s = speakers.register(_delegate(request, meeting_id), body.agenda_item_id, body.topic)
    return speakers.speaker_out(s)


@router.delete("/meetings/{meeting_id}/speakers/{speaker_id}", auth=None, response={200: dict, **ERRORS})
def withdraw(request, meeting_id: int, speaker_id: int):
    speakers.withdraw(_delegate(request, meeting_id), speaker_id)
    return {"withdrawn": speaker_id}


# ---- the chair ------------------------------------------------------------------------------------------------


@router.get("/meetings/{meeting_id}/votes", response={200: dict, **ERRORS})
def votes(request, meeting_id: int):
    """Every vote of the meeting (latest first), with the open one's live count."""
    m = _chaired(request, meeting_id)
    voting.close_due(m.pk)
    rows = list(m.votes.select_related("agenda_item", "meeting").order_by("-opened_at", "-id"))
    open_ = next((v for v in rows if v.state == v.OPEN), None)
    return {
        "server_time": time.time(),
        "votes": [voting.vote_out(v) for v in rows],
        "live": {"vote_id": open_.id, **voting.live_count(open_)} if open_ else None,
    }


@router.post("/meetings/{meeting_id}/votes", response={200: dict, **ERRORS})
def open_vote(request, meeting_id: int, body: VoteIn):
    v = voting.open_vote(
        request.auth,
        _chaired(request, meeting_id),
        question=body.question,
        agenda_item_id=body.agenda_item_id,
        secret=body.secret,
        rule=body.rule,
        limit_s=body.limit_s,
    )
    return voting.vote_out(v)


@router.post("/meetings/{meeting_id}/votes/{vote_id}/close", response={200: dict, **ERRORS})
def close_vote(request, meeting_id: int, vote_id: int):
    m = _chaired(request, meeting_id)
    v = voting.get_vote(vote_id)
    if v.meeting_id != m.pk:
        raise ballots.not_found(vote_id)
    return voting.vote_out(voting.close_vote(v.id, request.auth))


@router.get("/meetings/{meeting_id}/speakers", response={200: dict, **ERRORS})
def speaker_list(request, meeting_id: int):
    m = meetings.get_meeting(meeting_id)
    policy.check_can_view(request.auth, m)
    return {"server_time": time.time(), **speakers.listing(m.pk)}


@router.post("/meetings/{meeting_id}/speakers/order", response={200: dict, **ERRORS})
def order(request, meeting_id: int, body: OrderIn):
    m = _chaired(request, meeting_id)
    speakers.reorder(request.auth, m, body.ids)
    return speakers.listing(m.pk)


@router.post("/meetings/{meeting_id}/speakers/{speaker_id}/call", response={200: dict, **ERRORS})
def call(request, meeting_id: int, speaker_id: int, body: LimitIn):
    m = _chaired(request, meeting_id)
    return speakers.speaker_out(speakers.call(request.auth, m, speaker_id, body.limit_s))


@router.post("/meetings/{meeting_id}/speakers/{speaker_id}/limit", response={200: dict, **ERRORS})
def limit(request, meeting_id: int, speaker_id: int, body: LimitIn):
    m = _chaired(request, meeting_id)
    speakers.set_limit(request.auth, m, speaker_id, body.limit_s)
    return speakers.listing(m.pk)


@router.post("/meetings/{meeting_id}/speakers/{speaker_id}/end", response={200: dict, **ERRORS})
def end(request, meeting_id: int, speaker_id: int):
    m = _chaired(request, meeting_id)
    speakers.end(request.auth, m, speaker_id)
    return speakers.listing(m.pk)


# ---- the hall screen -------------------------------------------------------------------------------------------


@router.get("/meetings/{meeting_id}/hall", response={200: dict, **ERRORS})
def hall_screen(request, meeting_id: int):
    m = meetings.get_meeting(meeting_id)
    policy.check_can_view(request.auth, m)
    return hall.state(m)
