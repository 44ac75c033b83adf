"""Casting a ballot (issue 14, item 5): committed to the database before it is acknowledged, once per delegate.

Each refusal is a coded error and changes nothing. A retry of a ballot already counted (same idempotency key,
e.g. the client's first request reached a worker that died before answering) is acknowledged again and not counted
twice; another ballot from the same delegate is refused."""

import secrets
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from confserver.delegates.models import Delegate
from confserver.errors import Conflict, Forbidden, NotFound

from .models import Ballot, Choice, SecretTally, Vote


@dataclass
class Cast:
    vote_id: int
    choice: str | None  # None for a secret vote: the acknowledgement does not repeat it
    replay: bool  # True: this key's ballot was already counted; nothing was written now


def not_found(vote_id) -> NotFound:
    return NotFound("vote_not_found", f"Không có cuộc biểu quyết {vote_id}.")


def closed() -> Conflict:
    return Conflict("vote_closed", "Biểu quyết đã kết thúc; phiếu không được ghi nhận.")


def _check_input(vote_id: int, choice: str) -> None:
    if choice not in Choice.values:
        raise Conflict("bad_choice", "Lựa chọn không hợp lệ (tán thành, không tán thành, không biểu quyết).")
    if not 0 < vote_id < 2**63:
        raise not_found(vote_id)


def cast(delegate, vote_id: int, choice: str, key: str) -> Cast:
    """Record `delegate`'s ballot in vote `vote_id`. The vote's row is share-locked for the transaction, so a
    close (which takes it for update) counts every ballot committed before it and no ballot after it."""
    _check_input(vote_id, choice)
    with transaction.atomic():
        row = _lock_vote(vote_id)
        if row is None:
            raise not_found(vote_id)
        return _record(row, delegate, vote_id, choice, key)


def cast_with_link(token: str, meeting_id: int, vote_id: int, choice: str, key: str) -> Cast:
    """`cast` for a delegate calling with their link, in one query for the delegate and the vote (a ballot is the
    busiest request of a meeting). The link's signature and expiry are read by delegates.tokens; a delegate that
    is not the link's (another meeting, revoked, removed) is refused by delegates.tokens.verify itself."""
    from confserver.delegates import tokens

    _check_input(vote_id, choice)
    claims = tokens.read(token)
    if claims["m"] != meeting_id or connection.vendor != "postgresql":
        return cast(tokens.verify(token, meeting_id), vote_id, choice, key)
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(_LOCK_WITH_DELEGATE, [claims["d"], vote_id])
            row = cur.fetchone()
        if row is None:
            tokens.verify(token, meeting_id)  # the link's refusal first, as in `cast`'s callers
            raise not_found(vote_id)
        d_id, d_meeting, d_version, d_checked_in_at = row[4:]
        if d_id is None or d_meeting != meeting_id or d_version != claims["v"]:
            delegate = tokens.verify(token, meeting_id)  # raises the link's own refusal
        else:
            delegate = Delegate(pk=d_id, meeting_id=d_meeting, token_version=d_version, checked_in_at=d_checked_in_at)
        return _record(row[:4], delegate, vote_id, choice, key)


def _record(vote_row, delegate, vote_id: int, choice: str, key: str) -> Cast:
    """Inside the transaction that share-locked the vote: the checks, then the ballot."""
    from confserver.delegates.checkin import is_checked_in

    meeting_id, state, closes_at, secret = vote_row
    if meeting_id != delegate.meeting_id:
        raise Forbidden("vote_other_meeting", "Đại biểu không thuộc cuộc họp của biểu quyết này.")
    if not is_checked_in(delegate):
        raise Conflict("not_checked_in", "Đại biểu chưa điểm danh nên chưa được biểu quyết.")
    now = timezone.now()
    if state != Vote.OPEN or now >= closes_at:
        # A retry of a ballot counted before the close (its answer lost with the network or a worker) is told so,
        # not "not recorded": the delegate would believe a counted ballot lost.
        earlier = Ballot.objects.filter(vote_id=vote_id, delegate_id=delegate.pk).values_list("key", "choice").first()
        if earlier and earlier[0] == key:
            return Cast(vote_id, earlier[1], True)
        raise closed()
    inserted = _insert(vote_id, delegate.pk, None if secret else choice, key, None if secret else now)
    if not inserted:
        earlier = Ballot.objects.filter(vote_id=vote_id, delegate_id=delegate.pk).values_list("key", "choice").first()
        if earlier and earlier[0] == key:
            return Cast(vote_id, earlier[1], True)
        raise Conflict("already_voted", "Đại biểu đã biểu quyết; phiếu đã ghi không thể thay đổi.")
    if secret:
        with connection.cursor() as cur:
            cur.execute(
                f"UPDATE {_TALLY} SET count = count + 1 WHERE vote_id = %s AND choice = %s AND slot = %s",
                [vote_id, choice, secrets.randbelow(SecretTally.SLOTS)],
            )
    return Cast(vote_id, None if secret else choice, False)


_VOTE = Vote._meta.db_table
_BALLOT = Ballot._meta.db_table
_TALLY = SecretTally._meta.db_table
_LOCK_WITH_DELEGATE = (
    f"SELECT v.meeting_id, v.state, v.closes_at, v.secret, d.id, d.meeting_id, d.token_version, d.checked_in_at "
    f"FROM {_VOTE} v LEFT JOIN {Delegate._meta.db_table} d ON d.id = %s WHERE v.id = %s FOR SHARE OF v"
)


def _lock_vote(vote_id: int):
    if connection.vendor != "postgresql":  # SQLite (the embedded default) runs one writer at a time anyway
        return Vote.objects.filter(pk=vote_id).values_list("meeting_id", "state", "closes_at", "secret").first()
    with connection.cursor() as cur:
        cur.execute(f"SELECT meeting_id, state, closes_at, secret FROM {_VOTE} WHERE id = %s FOR SHARE", [vote_id])
        return cur.fetchone()


def _insert(vote_id, delegate_id, choice, key, cast_at) -> bool:
    """INSERT unless the delegate already has a ballot in this vote (the unique constraint decides, also between
    two workers at once); True when this call wrote it."""
    with connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO {_BALLOT} (vote_id, delegate_id, choice, key, cast_at) VALUES (%s, %s, %s, %s, %s) "
            f"ON CONFLICT (vote_id, delegate_id) DO NOTHING RETURNING id",
            [vote_id, delegate_id, choice, key, connection.ops.adapt_datetimefield_value(cast_at)],
        )
        return cur.fetchone() is not None
