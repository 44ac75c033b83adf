"""Voting (issue 14, item 5): a ballot is committed once per delegate; every refusal is coded and changes nothing;
a secret ballot's stored data cannot link a delegate to a choice."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from confserver.errors import DomainError
from confserver.votes import ballots, voting
from confserver.votes.models import Ballot, SecretTally, Vote

from .conftest import post, snapshot


def tally(v) -> dict:
    from django.db.models import Sum

    return dict(SecretTally.objects.filter(vote=v).values_list("choice").annotate(n=Sum("count")))


def open_vote(h, secret=False, limit_s=60, rule="half_all"):
    return voting.open_vote(
        h.host,
        h.meeting,
        question="Thông qua nghị quyết về ngân sách",
        agenda_item_id=None,
        secret=secret,
        rule=rule,
        limit_s=limit_s,
    )


def ballot_url(h, v, meeting=None):
    return f"/api/votes/meetings/{(meeting or h.meeting).pk}/votes/{v.pk}/ballot"


def refused(client, h, url, body, token, status, code):
    before = snapshot(h.meeting.pk)
    r = post(client, url, body, token)
    assert (r.status_code, r.json()["code"]) == (status, code), r.content
    assert snapshot(h.meeting.pk) == before
    return r


@pytest.mark.django_db(transaction=True)  # the ballot view casts on a thread of the pool (its own connection)
def test_cast_once_then_refused_and_a_retry_is_not_counted_twice(client, hall):
    v = open_vote(hall)
    tok = hall.tokens[hall.present.pk]
    r = post(client, ballot_url(hall, v), {"choice": "yes", "key": "k-aaaaaaaa"}, tok)
    assert r.status_code == 200 and r.json() == {"vote_id": v.pk, "counted": True, "choice": "yes", "replay": False}
    # The answer was lost and the client sends the same ballot again: acknowledged, not counted twice.
    r = post(client, ballot_url(hall, v), {"choice": "yes", "key": "k-aaaaaaaa"}, tok)
    assert r.status_code == 200 and r.json()["replay"] is True
    # A second vote (another choice, another key) is refused; the first stands.
    refused(client, hall, ballot_url(hall, v), {"choice": "no", "key": "k-bbbbbbbb"}, tok, 409, "already_voted")
    assert list(Ballot.objects.filter(vote=v).values_list("delegate_id", "choice")) == [(hall.present.pk, "yes")]
    # Even the same key cannot change the choice.
    r = post(client, ballot_url(hall, v), {"choice": "no", "key": "k-aaaaaaaa"}, tok)
    assert r.json()["choice"] == "yes"
    assert voting.counts(v) == {"yes": 1, "no": 0, "abstain": 0, "voters": 1}


@pytest.mark.django_db(transaction=True)  # the ballot view casts on a thread of the pool (its own connection)
def test_refusals_change_nothing(client, hall):
    from confserver.delegates import tokens

    v = open_vote(hall)
    body = {"choice": "yes", "key": "k-cccccccc"}
    # not checked in
    refused(client, hall, ballot_url(hall, v), body, hall.tokens[hall.absent.pk], 409, "not_checked_in")
    # another meeting's delegate: with their own meeting's link on this meeting's path, and on their meeting's path
    refused(client, hall, ballot_url(hall, v), body, hall.tokens[hall.other.pk], 403, "delegate_token_invalid")
    refused(
        client,
        hall,
        ballot_url(hall, v, hall.other.meeting),
        body,
        hall.tokens[hall.other.pk],
        403,
        "vote_other_meeting",
    )
    # a tampered link, an expired one, none
    tok = hall.tokens[hall.present.pk]
    tampered = tok[:-3] + ("AAA" if tok[-3:] != "AAA" else "BBB")
    refused(client, hall, ballot_url(hall, v), body, tampered, 401, "delegate_token_invalid")
    expired = tokens._signer().sign_object(
        {"d": hall.present.pk, "m": hall.meeting.pk, "v": 1, "e": int(timezone.now().timestamp()) - 1}, compress=True
    )
    refused(client, hall, ballot_url(hall, v), body, expired, 401, "delegate_token_expired")
    refused(client, hall, ballot_url(hall, v), body, None, 401, "delegate_required")
    # a revoked link
    tokens.revoke(hall.present)
    refused(client, hall, ballot_url(hall, v), body, tok, 401, "delegate_token_invalid")
    # a bad choice, an unknown vote
    tok = tokens.issue(hall.present)
    refused(client, hall, ballot_url(hall, v), {"choice": "maybe", "key": "k-cccccccc"}, tok, 422, "invalid")
    refused(
        client, hall, f"/api/votes/meetings/{hall.meeting.pk}/votes/999999/ballot", body, tok, 404, "vote_not_found"
    )
    assert not Ballot.objects.exists()


@pytest.mark.django_db(transaction=True)  # the ballot view casts on a thread of the pool (its own connection)
def test_after_close_and_after_the_time_limit(client, hall):
    v = open_vote(hall)
    voting.close_vote(v.pk, hall.host)
    refused(
        client,
        hall,
        ballot_url(hall, v),
        {"choice": "yes", "key": "k-dddddddd"},
        hall.tokens[hall.present.pk],
        409,
        "vote_closed",
    )
    v2 = open_vote(hall)
    Vote.objects.filter(pk=v2.pk).update(closes_at=timezone.now() - timedelta(milliseconds=1))  # time is up
    refused(
        client,
        hall,
        ballot_url(hall, v2),
        {"choice": "yes", "key": "k-dddddddd"},
        hall.tokens[hall.present.pk],
        409,
        "vote_closed",
    )
    # The next reader closes it, at its time limit, with the result.
    assert voting.current(hall.meeting.pk).state == Vote.CLOSED
    v2.refresh_from_db()
    assert v2.closed_at == v2.closes_at and v2.result["voters"] == 0 and v2.result["passed"] is False


@pytest.mark.django_db(transaction=True)  # the ballot view casts on a thread of the pool (its own connection)
def test_remote_room_delegate_votes_and_result_follows_the_rule(client, hall):
    v = open_vote(hall)
    for d, choice in ((hall.present, "yes"), (hall.remote, "yes")):
        assert (
            post(client, ballot_url(hall, v), {"choice": choice, "key": f"k-{d.pk:08d}"}, hall.tokens[d.pk]).status_code
            == 200
        )
    v = voting.close_vote(v.pk, hall.host)
    # 3 delegates in the meeting: more than half is 2.
    assert {k: v.result[k] for k in ("yes", "no", "abstain", "voters", "total", "present", "needed", "passed")} == {
        "yes": 2,
        "no": 0,
        "abstain": 0,
        "voters": 2,
        "total": 3,
        "present": 2,
        "needed": 2,
        "passed": True,
    }
    assert v.result["rule_label"] == "Quá nửa tổng số đại biểu"
    kinds = list(hall.meeting.timeline.values_list("kind", flat=True))
    assert kinds.count("vote_opened") == 1 and kinds.count("vote_closed") == 1
    assert voting.decide("two_thirds_all", 2, 3, 2) == (3, 2, True)
    assert voting.decide("two_thirds_all", 1, 3, 2) == (3, 2, False)
    assert voting.decide("half_present", 1, 3, 2) == (2, 2, False)
    assert voting.decide("half_all", 2, 4, 4) == (4, 3, False)


@pytest.mark.django_db(transaction=True)  # the ballot view casts on a thread of the pool (its own connection)
def test_chair_api_opens_counts_live_and_closes(client, hall):
    client.force_login(hall.host)
    mid = hall.meeting.pk
    r = post(client, f"/api/votes/meetings/{mid}/votes", {"question": "Thông qua chương trình", "limit_s": 120})
    assert r.status_code == 200, r.content
    vid = r.json()["id"]
    r = post(client, f"/api/votes/meetings/{mid}/votes", {"question": "Một biểu quyết nữa", "limit_s": 120})
    assert (r.status_code, r.json()["code"]) == (409, "vote_already_open")
    client.logout()
    post(
        client,
        f"/api/votes/meetings/{mid}/votes/{vid}/ballot",
        {"choice": "no", "key": "k-eeeeeeee"},
        hall.tokens[hall.present.pk],
    )
    mine = client.get(f"/api/votes/meetings/{mid}/mine", HTTP_AUTHORIZATION=f"Delegate {hall.tokens[hall.present.pk]}")
    assert mine.json()["voted"] is True and mine.json()["choice"] == "no"
    client.force_login(hall.host)
    live = client.get(f"/api/votes/meetings/{mid}/votes").json()["live"]
    assert live == {"vote_id": vid, "voters": 1, "present": 2, "expected": 3, "yes": 0, "no": 1, "abstain": 0}
    closed = post(client, f"/api/votes/meetings/{mid}/votes/{vid}/close").json()
    assert closed["state"] == "closed" and closed["result"]["no"] == 1 and closed["result"]["passed"] is False
    hall_state = client.get(f"/api/votes/meetings/{mid}/hall").json()
    assert hall_state["vote"]["result"]["no"] == 1


@pytest.mark.django_db(transaction=True)  # the ballot view casts on a thread of the pool (its own connection)
def test_secret_ballot_stores_who_voted_apart_from_how(client, hall):
    v = open_vote(hall, secret=True)
    for d, choice in ((hall.present, "no"), (hall.remote, "yes")):
        r = post(client, ballot_url(hall, v), {"choice": choice, "key": f"k-{d.pk:08d}"}, hall.tokens[d.pk])
        assert r.json()["choice"] is None  # the acknowledgement does not repeat it either
    assert list(Ballot.objects.filter(vote=v).values_list("choice", "cast_at").distinct()) == [(None, None)]
    assert tally(v) == {"yes": 1, "no": 1, "abstain": 0}
    # The counters table has no column naming a delegate, a ballot or a time.
    cols = {
        c.name for c in connection.introspection.get_table_description(connection.cursor(), SecretTally._meta.db_table)
    }
    assert cols == {"id", "vote_id", "choice", "slot", "count"}
    # The counters were made when the vote opened, SLOTS per choice: which one a ballot added to says nothing.
    assert SecretTally.objects.filter(vote=v).count() == 3 * SecretTally.SLOTS
    # The chair's live count of a secret vote has no per-choice figures.
    assert set(voting.live_count(v)) == {"voters", "present", "expected"}
    v = voting.close_vote(v.pk, hall.host)
    assert (v.result["yes"], v.result["no"], v.result["voters"]) == (1, 1, 2)


def test_a_bad_choice_in_the_domain_is_refused():
    with pytest.raises(DomainError) as e:
        ballots.cast(None, 1, "maybe", "k-ffffffff")
    assert e.value.code == "bad_choice"


@pytest.mark.django_db(transaction=True)
def test_secret_counters_do_not_keep_the_last_voters_transaction(client, hall):
    """PostgreSQL stamps each row version with the id of the transaction that wrote it (xmin): while a secret vote is
    open a counter's xmin is that of the last ballot that added to it, which its Ballot row shares. The close rewrites
    the counters, so afterwards no counter shares a transaction with any ballot."""
    if connection.vendor != "postgresql":
        pytest.skip("xmin is PostgreSQL's")
    v = open_vote(hall, secret=True)
    for d, choice in ((hall.present, "abstain"), (hall.remote, "yes")):
        assert (
            post(client, ballot_url(hall, v), {"choice": choice, "key": f"k-{d.pk:08d}"}, hall.tokens[d.pk]).status_code
            == 200
        )

    def xmins(table):
        with connection.cursor() as cur:
            cur.execute(f"SELECT xmin::text FROM {table} WHERE vote_id = %s", [v.pk])
            return {x for (x,) in cur.fetchall()}

    assert xmins("votes_ballot") & xmins("votes_secrettally")  # the link the close removes
    voting.close_vote(v.pk, hall.host)
    assert not xmins("votes_ballot") & xmins("votes_secrettally")
    assert tally(v) == {"yes": 1, "no": 0, "abstain": 1}


@pytest.mark.django_db(transaction=True)
def test_a_close_racing_with_ballots_counts_every_acknowledged_one(hall):
    """Ballots cast from many threads while the chair closes: each ballot is either acknowledged and in the result,
    or refused vote_closed and not stored; none is acknowledged and then missing."""
    import threading

    from tests.conftest import needs_postgresql

    # The test database on SQLite is in memory, shared by every thread through one connection, which cannot take
    # concurrent writers. The embedded default's file database can: IMMEDIATE transactions with a 20 s busy
    # timeout queue them (settings.py).
    needs_postgresql("concurrent writers from many threads")

    from django.db import connections

    from .conftest import delegate

    many = [delegate(hall.meeting, f"Đại biểu {i}") for i in range(24)]
    v = open_vote(hall)
    acked, refused_, start = [], [], threading.Barrier(len(many) + 1)

    def vote(d, i):
        try:
            start.wait()
            try:
                ballots.cast(d, v.pk, "yes" if i % 3 else "no", f"k-race-{i:04d}")
                acked.append(d.pk)
            except DomainError as e:
                assert e.code == "vote_closed"
                refused_.append(d.pk)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=vote, args=(d, i)) for i, d in enumerate(many)]
    for t in threads:
        t.start()
    start.wait()
    closed = voting.close_vote(v.pk, hall.host)
    for t in threads:
        t.join(30)
    stored = set(Ballot.objects.filter(vote=v).values_list("delegate_id", flat=True))
    assert len(acked) + len(refused_) == len(many)
    assert stored == set(acked) and closed.result["voters"] == len(acked)
    assert closed.result["yes"] + closed.result["no"] == len(acked)
