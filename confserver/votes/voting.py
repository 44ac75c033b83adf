"""Votes (biểu quyết, issue 14 item 5): the chair opens one on a question, delegates cast (ballots.py), it closes
by the chair or at its time limit, and its result, with the rule that decides it, goes to everyone and into the
timeline."""

import logging
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Count, F, Sum
from django.utils import timezone

from confserver.errors import Conflict, NotFound
from confserver.rooms import timeline
from confserver.rooms.models import MeetingState

from . import fanout, notify
from .models import Ballot, Choice, Rule, SecretTally, Vote

log = logging.getLogger(__name__)
ACTIVE = (MeetingState.TEST_RUN, MeetingState.LIVE)
MIN_LIMIT_S, MAX_LIMIT_S = 10, 3600


def _ts(dt):
    return dt.timestamp() if dt else None


def vote_out(v: Vote) -> dict:
    item = v.agenda_item
    return {
        "id": v.id,
        "meeting_id": v.meeting_id,
        "question": v.question,
        "secret": v.secret,
        "rule": v.rule,
        "rule_label": Rule(v.rule).label,
        "state": v.state,
        "limit_s": v.limit_s,
        "agenda_item": {"id": item.id, "position": item.position, "title": item.title} if item else None,
        "opened_at": _ts(v.opened_at),
        "closes_at": _ts(v.closes_at),
        "closed_at": _ts(v.closed_at),
        "result": v.result,
    }


def get_vote(vote_id: int) -> Vote:
    v = Vote.objects.select_related("agenda_item").filter(pk=vote_id).first() if 0 < vote_id < 2**63 else None
    if v is None:
        raise NotFound("vote_not_found", f"Không có cuộc biểu quyết {vote_id}.")
    return v


def open_vote(
    user, meeting, *, question: str, agenda_item_id: int | None, secret: bool, rule: str, limit_s: int
) -> Vote:
    """Open a vote (the caller checked that `user` chairs `meeting`). One open vote per meeting at a time."""
    from confserver.agenda.models import AgendaItem

    if meeting.state not in ACTIVE:
        raise Conflict("bad_state", "Chỉ biểu quyết được khi cuộc họp đang chạy thử hoặc đang họp.")
    if not MIN_LIMIT_S <= limit_s <= MAX_LIMIT_S:
        raise Conflict("bad_limit", f"Thời gian biểu quyết phải từ {MIN_LIMIT_S} giây đến {MAX_LIMIT_S // 60} phút.")
    if not question.strip():
        raise Conflict("empty_question", "Hãy nhập nội dung biểu quyết.")
    item = None
    if agenda_item_id is not None:
        item = AgendaItem.objects.filter(pk=agenda_item_id, meeting=meeting).first()
        if item is None:
            raise NotFound("item_not_found", f"Không có nội dung họp {agenda_item_id} trong cuộc họp này.")
    close_due(meeting.id)
    now = timezone.now()
    with transaction.atomic():
        if Vote.objects.filter(meeting=meeting, state=Vote.OPEN).exists():
            raise Conflict("vote_already_open", "Đang có một biểu quyết chưa kết thúc.")
        v = Vote.objects.create(
            meeting=meeting,
            agenda_item=item,
            question=question.strip(),
            secret=secret,
            rule=rule,
            limit_s=limit_s,
            opened_at=now,
            closes_at=now + timedelta(seconds=limit_s),
            opened_by=user if user and user.pk else None,
        )
        if secret:
            SecretTally.objects.bulk_create(
                [SecretTally(vote=v, choice=c, slot=i) for c in Choice.values for i in range(SecretTally.SLOTS)]
            )
        row = timeline.record(
            meeting,
            "vote_opened",
            actor=user,
            at=now,
            vote_id=v.id,
            question=v.question,
            secret=secret,
            rule=rule,
            limit_s=limit_s,
            agenda_item_id=agenda_item_id,
        )
        fanout.push(meeting.id, {"event": "vote_opened", "vote": vote_out(v)}, [row])
        notify.vote_opened(v)
    return v


def counts(v: Vote) -> dict:
    """{yes, no, abstain, voters}; per choice from the tallies for a secret vote, from the ballots for an open one."""
    out = dict.fromkeys(Choice.values, 0)
    if v.secret:
        out.update(dict(SecretTally.objects.filter(vote=v).values_list("choice").annotate(n=Sum("count"))))
    else:
        out.update({c: n for c, n in Ballot.objects.filter(vote=v).values_list("choice").annotate(n=Count("id"))})
    out["voters"] = Ballot.objects.filter(vote=v).count()
    return out


def live_count(v: Vote) -> dict:
    """What the chair sees while a vote is open: how many voted of how many present; per choice only for an open
    ballot (live per-choice counts of a secret one, read next to who just voted, would tell how they voted)."""
    from confserver.delegates.checkin import quorum
    from confserver.rooms.models import Meeting

    c = counts(v)
    q = quorum(Meeting(pk=v.meeting_id))
    out = {"voters": c["voters"], "present": q["present"], "expected": q["expected"]}
    if not v.secret:
        out.update({k: c[k] for k in Choice.values})
    return out


def decide(rule: str, yes: int, total: int, present: int) -> tuple[int, int, bool]:
    """(base, needed, passed): the yes votes needed out of the base the rule counts from."""
    base = present if rule == Rule.HALF_PRESENT else total
    needed = -(-2 * base // 3) if rule == Rule.TWO_THIRDS_ALL else base // 2 + 1
    return base, needed, base > 0 and yes >= needed


def close_vote(vote_id: int, user=None, *, reason: str = "chair") -> Vote:
    """Close a vote (idempotent): every ballot committed before is counted, none after (ballots.cast share-locks
    the vote's row; this takes it for update)."""
    from confserver.delegates.checkin import quorum
    from confserver.delegates.models import Delegate

    with transaction.atomic():
        v = Vote.objects.select_for_update(of=("self",)).select_related("agenda_item", "meeting").get(pk=vote_id)
        if v.state == Vote.CLOSED:
            return v
        now = timezone.now()
        c = counts(v)
        total = Delegate.objects.filter(meeting_id=v.meeting_id).count()
        present = quorum(v.meeting)["present"]
        base, needed, passed = decide(v.rule, c["yes"], total, present)
        v.result = {
            **c,
            "total": total,
            "present": present,
            "base": base,
            "needed": needed,
            "passed": passed,
            "rule_label": Rule(v.rule).label,
        }
        v.state, v.closed_at = Vote.CLOSED, min(now, v.closes_at) if reason == "time" else now
        v.save(update_fields=["result", "state", "closed_at"])
        if v.secret:
            scrub(v)
        row = timeline.record(
            v.meeting,
            "vote_closed",
            actor=user,
            at=v.closed_at,
            vote_id=v.id,
            question=v.question,
            secret=v.secret,
            reason=reason,
            **{k: v.result[k] for k in ("yes", "no", "abstain", "voters", "total", "present", "needed", "passed")},
        )
        fanout.push(v.meeting_id, {"event": "vote_closed", "vote": vote_out(v)}, [row])
        if v.secret and connection.vendor == "postgresql":
            transaction.on_commit(_vacuum_tallies)
    return v


def scrub(v: Vote) -> None:
    """Rewrite a secret vote's counters in the closing transaction: each counter row then carries the close's
    transaction id (PostgreSQL's xmin), no longer that of the last ballot that added to it, which would name the
    last voter of each choice; the old row versions are vacuumed after commit."""
    SecretTally.objects.filter(vote=v).update(count=F("count"))


def _vacuum_tallies() -> None:
    try:
        with connection.cursor() as cur:
            cur.execute(f"VACUUM {SecretTally._meta.db_table}")
    except Exception:  # inside a test's transaction, or a connection in a transaction: best effort
        log.warning("could not vacuum the secret tallies", exc_info=True)


def close_due(meeting_id: int) -> Vote | None:
    """Close the meeting's open vote if its time is up (called by every reader: the hall, the console, delegates)."""
    v = Vote.objects.filter(meeting_id=meeting_id, state=Vote.OPEN, closes_at__lte=timezone.now()).first()
    return close_vote(v.id, reason="time") if v else None


def current(meeting_id: int) -> Vote | None:
    """The open vote, else the last closed one."""
    close_due(meeting_id)
    return (
        Vote.objects.select_related("agenda_item", "meeting")
        .filter(meeting_id=meeting_id)
        .order_by("-opened_at", "-id")
        .first()
    )


def delegate_view(delegate, v: Vote | None) -> dict:
    """The vote as one delegate sees it: whether they voted, and their choice in an open ballot."""
    if v is None:
        return {"vote": None, "voted": False, "choice": None}
    mine = Ballot.objects.filter(vote=v, delegate=delegate).values_list("choice").first()
    return {"vote": vote_out(v), "voted": mine is not None, "choice": mine[0] if mine else None}
