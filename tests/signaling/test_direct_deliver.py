"""A session's notifications sent in the call (sessions.Session.direct, issue 11): only while its connection's
writer waits with nothing queued, so that every notification goes out once and in seq order; a detached session,
or one attached to a new connection, sends nothing in the call until that connection's writer runs."""

import asyncio
import json

from confserver.signaling import sessions


def _session(seq_acked=0):
    s = sessions.Session(id="s1", key=(1, "room", 7))
    s.attach(on_close=None, overflow=None, acked=seq_acked)
    return s


def _seqs(texts):
    return [json.loads(t)["seq"] for t in texts]


def test_sent_in_the_call_only_when_nothing_is_queued_before_it():
    s = _session()
    wire = []
    assert not s.deliver(s.stamp('"event":"a"'))  # no writer yet: queued
    s.direct = wire.append  # the writer waits (it sets this before each wait)
    assert not s.deliver(s.stamp('"event":"b"'))  # "a" still queued: "b" after it, in the queue
    assert _seqs([s.queue.get_nowait(), s.queue.get_nowait()]) == [1, 2]
    assert s.deliver(s.stamp('"event":"c"'))  # queue empty: in the call
    assert s.deliver(s.stamp('"event":"d"'))
    assert _seqs(wire) == [3, 4] and s.queue.empty()
    assert s.ack_token() in s.ack_tokens and s.ack_tokens[next(reversed(s.ack_tokens))] == 4  # sent counts as sent


def test_detach_and_reattach_stop_sending_in_the_call():
    s = _session()
    wire = []
    s.direct = wire.append
    sessions.detach(s)
    assert s.direct is None
    assert not s.deliver(s.stamp('"event":"kept"'))  # detached: only the outbox has it
    assert wire == [] and s.missed_since(0) == [s.outbox[0][1]]
    s.attach(on_close=None, overflow=None, acked=1)
    assert s.direct is None  # the new connection's writer has not run yet
    assert not s.deliver(s.stamp('"event":"queued"'))
    assert s.queue.qsize() == 1 and wire == []


def test_a_failing_send_in_the_call_falls_back_to_the_queue():
    s = _session()

    def broken(text):
        raise RuntimeError("socket gone")

    s.direct = broken
    assert not s.deliver(s.stamp('"event":"a"'))
    assert s.direct is None and _seqs([s.queue.get_nowait()]) == [1]  # the writer meets it and cuts off


def test_over_the_backlog_is_cut_off_not_sent():
    s = _session()
    wire, cut = [], []
    s.overflow = lambda: cut.append(True)
    s.direct = wire.append
    s.seq = s.acked + 10_000  # far past SIGNALING_MAX_BACKLOG unacknowledged
    assert not s.deliver(s.stamp('"event":"late"'))
    assert wire == [] and cut == [True] and s.queue is None


async def test_hub_sends_in_the_call_to_idle_writers_and_queues_for_busy_ones():
    hub = sessions.Hub(1, layer=None, group="g")
    idle, busy = _session(), _session()
    busy.id = "s2"
    wire = []
    idle.direct = wire.append
    busy.queue.put_nowait("earlier")
    busy.direct = wire.append
    hub.sessions = {idle.id: idle, busy.id: busy}
    await hub._dispatch({"type": "meeting.event", "event": {"event": "muted", "room_id": 3, "muted": True}})
    assert [json.loads(t) for t in wire] == [{"type": "event", "seq": 1, "event": "muted", "room_id": 3, "muted": True}]
    assert busy.queue.get_nowait() == "earlier" and _seqs([busy.queue.get_nowait()]) == [1]
    await asyncio.sleep(0)
