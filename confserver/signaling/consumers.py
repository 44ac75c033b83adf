"""The meeting WebSocket: parse, authorise, call one domain function, send what it returns."""

import asyncio
import logging
import time
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from confserver.edge.sender import text_sender as edge_text_sender
from confserver.errors import DomainError
from confserver.observability import logs, metrics
from confserver.recording import live as recording
from confserver.rooms import tokens
from confserver.tasks import cancel_surely

from . import admission, control, paperless, protocol, relaymoves, relayrestart, rollcall, sessions
from .control import group_name

log = logging.getLogger(__name__)

# Close codes (4000-4999 are the application's).
CLOSE_REFUSED, CLOSE_REPLACED, CLOSE_DROPPED, CLOSE_TOO_SLOW, CLOSE_FLOOD, CLOSE_ENDED = (
    4403,
    4001,
    4004,
    4008,
    4029,
    4000,
)
CLOSE_JOIN_TIMEOUT, CLOSE_TOO_MANY, CLOSE_INTERNAL = 4408, 4429, 1011
INTERNAL = "Lỗi máy chủ; thao tác chưa được thực hiện."

# Tasks a connection leaves behind (grace timers, closes started from callbacks), owned here so they can be cancelled.
_grace_tasks: set[asyncio.Task] = set()
# Open connections per place in a meeting, (meeting, role, room) -> count, in this process.
_sockets: dict[tuple, int] = {}


def _spawn(coro) -> asyncio.Task:
    task = asyncio.ensure_future(coro)
    _grace_tasks.add(task)
    task.add_done_callback(_grace_tasks.discard)
    return task


async def tell(layer, meeting_id: int, outcome: control.Outcome):
    """Fan out an outcome: events to the whole meeting, messages to single connections."""
    for ev in outcome.events:
        audience = ev.pop(control.TO, None)
        await layer.group_send(group_name(meeting_id), {"type": "meeting.event", "event": ev, "to": audience})
    for conn, message in outcome.direct:
        if conn == "*":
            await layer.group_send(group_name(meeting_id), message)
        else:
            await layer.send(conn, message)


def tell_sync(meeting_id: int, outcome_coro_fn, *args):
    """From synchronous code (the HTTP API): run a control function and fan out its outcome."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    async def run():
        await tell(get_channel_layer(), meeting_id, await outcome_coro_fn(*args))

    async_to_sync(run)()


def notify_sync(meeting_id: int, *events: dict):
    """From synchronous code: send events to everyone connected to the meeting."""

    async def outcome():
        return control.Outcome(events=list(events))

    tell_sync(meeting_id, outcome)


class MeetingConsumer(AsyncWebsocketConsumer):
    actor: control.Actor | None = None
    session: sessions.Session | None = None
    closing = False  # frames still queued are dropped unread
    settled = False  # the place in the meeting is given up already (left, replaced, dropped, ended)
    joining = False
    waiting = False  # its join was refused until the meeting opens or the chair lets it back (admission.py)
    _finished = False
    _slot: tuple | None = None  # this connection's count in _sockets
    _join_timer: asyncio.TimerHandle | None = None

    async def __call__(self, scope, receive, send):
        """Whatever ends the consumer (a disconnect, a crash, a cancelled application), its exit runs once."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            if not self._finished:
                _spawn(self._finish())

    # ---- connection ---------------------------------------------------------

    async def connect(self):
        self.meeting_id = self.scope["url_route"]["kwargs"]["meeting_id"]
        self.bucket, self.bucket_at, self.flood = float(settings.SIGNALING_BURST), time.monotonic(), 0
        self.window_at, self.window_n = self.bucket_at, 0
        self._join_timer = asyncio.get_running_loop().call_later(
            settings.SIGNALING_JOIN_TIMEOUT_S, self._join_timed_out
        )
        offered = self.scope.get("subprotocols") or []
        await self.accept(subprotocol=tokens.SUBPROTOCOL if tokens.SUBPROTOCOL in offered else None)
        if "token" in parse_qs(self.scope.get("query_string", b"").decode(errors="replace")):
            # URLs end up in access logs: the token travels in Sec-WebSocket-Protocol (rooms/tokens.py).
            return await self.refuse(DomainError("token_in_url", "Mã phòng không được gửi trong địa chỉ kết nối."))
        token = tokens.token_from_subprotocols(offered)
        try:
            self.actor, _ = await control.admit(self.scope.get("user"), token, self.meeting_id)
        except DomainError as exc:
            return await self.refuse(exc)
        self.actor.conn = self.channel_name
        logs.bind(
            meeting_id=self.meeting_id, room_id=self.actor.room_id
        )  # on this socket's log lines (LOG_FORMAT=json)
        await self._take_slot()

    async def _take_slot(self):
        """At most SIGNALING_MAX_SOCKETS_PER_ROOM open connections per room (or chair) of a meeting, per process."""
        key = (self.actor.meeting_id, self.actor.role, self.actor.room_id)
        if _sockets.get(key, 0) >= settings.SIGNALING_MAX_SOCKETS_PER_ROOM:
            self.actor = None
            return await self.refuse(
                DomainError(
                    "too_many_connections",
                    "Phòng này đang mở quá nhiều kết nối tới cuộc họp; hãy đóng bớt rồi thử lại.",
                ),
                CLOSE_TOO_MANY,
            )
        _sockets[key] = _sockets.get(key, 0) + 1
        self._slot = key

    async def refuse(self, exc: DomainError, code=CLOSE_REFUSED):
        self.closing = True
        await self.send_json({"type": "error", "id": None, "code": exc.code, "message": exc.message})
        await self.close(code=code)

    def _join_timed_out(self):
        """Close a connection that has not joined in time (issue 9, finding 12: sockets held for nothing)."""
        self._join_timer = None
        if self.session is not None or self.closing or self._finished:
            return
        if self.joining:  # its join is under way: look again later
            self._join_timer = asyncio.get_running_loop().call_later(
                settings.SIGNALING_JOIN_TIMEOUT_S, self._join_timed_out
            )
            return
        self.closing = True
        text = f"Chưa vào họp sau {settings.SIGNALING_JOIN_TIMEOUT_S:g} giây; kết nối bị đóng."
        _spawn(self._cut_off(CLOSE_JOIN_TIMEOUT, ("join_timeout", text)))

    async def _cut_off(self, code, error: tuple[str, str] | None = None):
        """Close from the server's side, then run the exit (the place is kept for the grace period)."""
        try:
            if error is not None:
                await self.send_error(None, *error)
            await self.close(code=code)
        except Exception:
            log.exception("meeting %s: closing a connection failed", self.meeting_id)
        await self._finish()

    async def disconnect(self, code):
        await self._finish()

    async def _finish(self, leave_reason: str | None = None):
        """The one exit of every connection: stop its timers and tasks, free its slot, and give up its place in
        the meeting: at once with `leave_reason` (a deliberate close), after the grace period for a lost
        connection (it may resume), not again when it was given up already."""
        if self._finished:
            return
        self._finished = True
        if self._join_timer is not None:
            self._join_timer.cancel()
        for name in ("quality_task", "writer"):
            task = getattr(self, name, None)
            if task is not None and task is not asyncio.current_task():
                cancel_surely(task)  # a cancel can be lost in a Redis command (confserver/tasks.py)
        relaymoves.release(self)
        if self._slot is not None:
            left = _sockets.pop(self._slot, 1) - 1
            if left > 0:
                _sockets[self._slot] = left
        actor, session = self.actor, self.session
        if actor is not None and self.waiting:
            self.waiting = False
            try:
                await self.tell(await admission.stop_waiting(actor))
            except Exception:
                log.exception("meeting %s: forgetting waiting room %s failed", actor.meeting_id, actor.room_id)
        if actor is None or session is None:
            return
        try:
            if self.settled:
                return await sessions.close(session)
            if leave_reason is not None:
                await sessions.close(session)
                return await self.tell(await control.leave(actor, reason=leave_reason))
            sessions.detach(session)
            _spawn(self._leave_after_grace(actor, session))
            await control.detach(actor)
        except Exception:
            log.exception("meeting %s: giving up room %s's place failed", actor.meeting_id, actor.room_id)

    async def _leave_after_grace(self, actor, session):
        """The room is shown as present for the grace period, then leaves unless it came back."""
        await asyncio.sleep(settings.SIGNALING_GRACE_S)
        if session.detached_at is None:
            return  # resumed on this process
        try:
            await sessions.close(session)
            await self.tell(await control.leave(actor, reason="connection_lost"))
        except Exception:
            log.exception("leave after grace failed for room %s", actor.room_id)

    # ---- incoming -----------------------------------------------------------

    async def dispatch(self, message):
        """As channels' dispatch, without its hop to the sync thread to close stale database
        connections before every message: all database work here goes through
        database_sync_to_async, which does that in its own thread. (That hop serialised a burst
        of joins behind one thread.) No exception ends the consumer: it is logged, and answered."""
        if self.closing and message["type"] == "websocket.receive":
            return  # closing: frames still queued are dropped unread
        try:
            handler = getattr(self, get_handler_name(message), None)
            if handler is None:
                raise ValueError(f"No handler for message type {message['type']}")
            await handler(message)
        except StopConsumer:
            raise
        except Exception:
            await self._failed(message)

    async def _failed(self, message):
        """A handler raised: log it and answer `internal`; the connection and its place are kept."""
        kind = message.get("type")
        log.exception("meeting %s: handling %s failed", getattr(self, "meeting_id", None), kind)
        try:
            if kind == "websocket.receive":
                await self.send_error(protocol.peek_id(message.get("text")), "internal", INTERNAL)
            elif kind == "websocket.connect":  # not admitted: nothing to keep
                self.closing = True
                await self.send_error(None, "internal", INTERNAL)
                await self.close(code=CLOSE_INTERNAL)
        except Exception:
            log.exception("meeting %s: answering a failed %s failed too", getattr(self, "meeting_id", None), kind)

    async def websocket_disconnect(self, message):
        """As channels' (this consumer joins no groups of its own), without the sync-thread hop."""
        await self.disconnect(message["code"])
        raise StopConsumer()

    async def receive(self, text_data=None, bytes_data=None):
        if self.actor is None or self.closing:
            return
        raw = text_data if text_data is not None else bytes_data
        if self._over_ceiling():
            return await self._flood_close()
        if not self._take_token():
            self.flood += 1
            if self.flood > settings.SIGNALING_BURST * 5:
                return await self._flood_close()
            return await self.send_error(protocol.peek_id(raw), "rate_limited", "Gửi quá nhanh; tin nhắn bị bỏ qua.")
        self.flood = 0  # only refusals in a row count towards closing the connection
        try:
            msg = protocol.parse_client(raw)
        except protocol.ProtocolError as exc:
            return await self.send_error(exc.id, exc.code, exc.message)
        if self.session is None and msg.type not in ("join", "ping"):
            return await self.send_error(msg.id, "not_joined", "Hãy gửi 'join' trước.")
        handler = getattr(self, f"on_{msg.type}", None) or self.on_unavailable
        try:
            outcome = await handler(msg)
        except DomainError as exc:
            return await self.send_error(msg.id, exc.code, exc.message)
        except Exception:
            log.exception("signaling handler %s failed", msg.type)
            return await self.send_error(msg.id, "internal", INTERNAL)
        if isinstance(outcome, control.Outcome):
            await self.send_json({"type": "ok", "id": msg.id, "data": outcome.reply})
            await self._tell_done(outcome)

    async def _tell_done(self, outcome: control.Outcome):
        """Fan out what an action already did (and replied ok to): a failure is logged, not answered twice."""
        try:
            await self.tell(outcome)
        except Exception:
            log.exception("meeting %s: fanning out an outcome failed", self.meeting_id)

    def _over_ceiling(self) -> bool:
        """More frames within a second than SIGNALING_FLOOD_FPS (never below what the bucket lets through)."""
        now = time.monotonic()
        if now - self.window_at >= 1.0:
            self.window_at, self.window_n = now, 0
        self.window_n += 1
        return self.window_n > max(settings.SIGNALING_FLOOD_FPS, settings.SIGNALING_BURST + settings.SIGNALING_RATE)

    async def _flood_close(self):
        """A flood: drop what is queued, close now, and give up the room's place (no ghost left online)."""
        self.closing = True
        log.warning("meeting %s: closing a flooding connection (room %s)", self.meeting_id, self.actor.room_id)
        try:
            await self.close(code=CLOSE_FLOOD)
        finally:
            await self._finish(leave_reason="flood")

    def _take_token(self) -> bool:
        now = time.monotonic()
        self.bucket = min(settings.SIGNALING_BURST, self.bucket + (now - self.bucket_at) * settings.SIGNALING_RATE)
        self.bucket_at = now
        if self.bucket < 1:
            return False
        self.bucket -= 1
        return True

    async def tell(self, outcome: control.Outcome):
        await tell(self.channel_layer, self.meeting_id, outcome)

    # ---- requests -----------------------------------------------------------

    async def on_join(self, msg: protocol.Join):
        if self.session is not None:
            raise DomainError("already_joined", "Kết nối này đã vào họp.")
        self.joining = True
        try:
            return await self._join(msg)
        finally:
            self.joining = False

    async def _join(self, msg: protocol.Join):
        a = self.actor
        key = (a.meeting_id, a.role, a.room_id)
        resumed = sessions.resume(msg.resume.session, key) if msg.resume else None
        if resumed is not None and resumed.missed_since(msg.resume.last_seq) is None:
            await sessions.close(resumed)  # too much was missed: a fresh session and a snapshot
            resumed = None
        session = resumed or await sessions.open_session(key, self.channel_layer, group_name(a.meeting_id))
        # The client has everything up to `since`: what it says on a resume, the session's start otherwise.
        since = msg.resume.last_seq if resumed is not None else session.seq
        a.session = session.id
        try:
            outcome, state, view = await control.join(a)
        except DomainError as exc:
            if session is not resumed:
                await sessions.close(session)
            if exc.code in admission.WAIT_CODES and not a.is_chair:
                await self._wait(exc.code)
            raise
        except Exception:
            await self._undo_join(session, resumed)
            raise
        self.session = session
        try:
            await self._joined(msg, session, resumed, since, state, view)
        except Exception:
            await self._undo_join(session, resumed)
            raise
        if self._join_timer is not None:
            self._join_timer.cancel()
            self._join_timer = None
        if self.waiting:  # the presence event tells the chair it is in
            self.waiting = False
            await admission.stop_waiting(a, tell=False)
        await self._tell_done(outcome)
        return None

    async def _wait(self, code: str):
        """A room that may not join yet keeps its socket: it is sent `may_join` when it may (no join timeout)."""
        if self._join_timer is not None:
            self._join_timer.cancel()
            self._join_timer = None
        self.waiting = True
        await self._tell_done(await admission.wait(self.actor, code))

    async def _undo_join(self, session, resumed):
        """A join that failed half-way gives its place and its fresh session back: no ghost."""
        self.session = None
        try:
            if session is resumed:
                sessions.detach(session)
            else:
                await sessions.close(session)
            await self.tell(await control.leave(self.actor, reason="join_failed"))
        except Exception:
            log.exception("meeting %s: undoing room %s's join failed", self.meeting_id, self.actor.room_id)

    async def _joined(self, msg, session, resumed, since, state, view):
        """Attach the joined session and send the join reply, then what was numbered meanwhile."""
        a = self.actor
        # Notifications numbered while the join was under way are in the outbox: they follow the
        # reply, like a resume's (a fresh session's snapshot comes from a view read meanwhile, and
        # applying an event twice is harmless). From here on every notification reaches the queue;
        # read the missed ones and attach with no await in between.
        missed = session.missed_since(since)
        if missed is None:  # more than the outbox came in during the join: a snapshot instead
            since, missed, view, resumed = session.seq, [], None, None
        cap = settings.SIGNALING_MAX_BACKLOG
        queue = session.attach(self.meeting_closed, self.too_slow, acked=max(since, session.seq - cap // 2))
        reply = {
            "session": session.id,
            "seq": since,
            "resumed": resumed is not None,
            "max_unacked": cap,
            "ack": session.ack_token(upto=since),
        }
        if resumed is not None:
            reply["replayed"] = len(missed)
        else:
            reply["snapshot"] = await control.snapshot(a, state, view)
        await self.send_json({"type": "ok", "id": msg.id, "data": reply})
        metrics.JOINS.labels("resume" if resumed is not None else "new").inc()
        for text in missed:
            await self.send(text_data=text)
        self.writer = asyncio.ensure_future(self._write(queue))
        self._start_quality()
        relaymoves.hold(self)  # MEDIA_CASCADE: told `relay_move` when its relay goes

    async def _write(self, queue: asyncio.Queue):
        """Send the session's notifications in order (after the join reply and any replay). While this waits
        with nothing queued, the hub sends each notification itself, in the call (sessions.Session.direct)."""
        session = self.session
        direct = edge_text_sender(self.base_send) if settings.SIGNALING_SEND_DIRECT else None
        try:
            while True:
                if session.queue is queue:
                    session.direct = direct
                text = await queue.get()
                await self.send(text_data=text)
                metrics.EVENTS_SENT.inc()
        except Exception:  # the socket cannot take them: cut off, the session waits for a resume
            log.exception("meeting %s: sending a notification failed", self.meeting_id)
            self.closing = True
            _spawn(self._cut_off(CLOSE_INTERNAL))
        finally:
            if session.queue is queue:
                session.direct = None

    def _start_quality(self):
        if self.actor.is_chair and getattr(self, "quality_task", None) is None:
            self.quality_task = asyncio.ensure_future(self._send_quality())

    async def on_leave(self, msg):
        outcome = await control.leave(self.actor)
        self.closing = self.settled = True
        try:
            await self.send_json({"type": "ok", "id": msg.id, "data": {}})
            await self._tell_done(outcome)
        finally:
            await self.close()
            await self._finish()

    async def on_ping(self, msg):
        if self.session is None:
            return control.Outcome(reply={"seq": 0})
        if msg.ack is not None and not self.session.ack(msg.ack):
            raise DomainError("bad_ack", "Mã xác nhận không đúng; hãy gửi mã 'ack' của lần trả lời gần nhất.")
        return control.Outcome(reply={"seq": self.session.seq, "ack": self.session.ack_token()})

    async def on_snapshot(self, msg):
        state = await control.current_state(self.meeting_id)
        return control.Outcome(reply={"seq": self.session.seq, "snapshot": await control.snapshot(self.actor, state)})

    async def on_raise_hand(self, msg):
        return await control.raise_hand(self.actor)

    async def on_lower_hand(self, msg):
        return await control.lower_hand(self.actor)

    async def on_grant_floor(self, msg):
        return await control.grant_floor(self.actor, msg.room_id, msg.may_present)

    async def on_revoke_floor(self, msg):
        return await control.revoke_floor(self.actor)

    async def on_set_floor_limit(self, msg):
        return await control.set_floor_limit(self.actor, msg.limit_s)

    async def on_broadcast_room(self, msg):
        return await control.broadcast_room(self.actor, msg.room_id)

    async def on_lecture_mode(self, msg):
        return await control.lecture_mode(self.actor)

    async def on_mute_room(self, msg):
        return await control.mute_room(self.actor, msg.room_id, msg.muted)

    async def on_pin_tier(self, msg):
        return await control.pin_tier(self.actor, msg.room_id, msg.tier)

    async def on_drop_room(self, msg):
        return await control.drop_room(self.actor, msg.room_id)

    async def on_readmit_room(self, msg):
        return await admission.readmit(self.actor, msg.room_id)

    async def on_set_state(self, msg):
        return await control.set_state(self.actor, msg.state)

    async def on_roll_call_start(self, msg):
        return await rollcall.roll_call_start(self.actor)

    async def on_roll_call_end(self, msg):
        return await rollcall.roll_call_end(self.actor)

    async def on_roll_call_answer(self, msg):
        return await rollcall.roll_call_answer(self.actor)

    async def on_roll_call_mark(self, msg):
        return await rollcall.roll_call_mark(self.actor, msg.room_id, msg.status, msg.reason)

    async def on_agenda_item(self, msg):
        return await paperless.agenda_item(self.actor, msg.item_id)

    async def on_present(self, msg):
        return await paperless.present(self.actor, msg.version_id, msg.page)

    async def on_present_stop(self, msg):
        return await paperless.present_stop(self.actor)

    async def on_sync_state(self, msg):
        return await paperless.sync_state(self.actor)

    async def on_recording_start(self, msg):
        return await recording.start(self.actor)

    async def on_recording_stop(self, msg):
        return await recording.stop(self.actor)

    async def on_sdp_offer(self, msg):
        return await control.media_offer(self.actor, msg.sdp)

    async def on_ice_candidate(self, msg):
        return await control.media_candidate(self.actor, msg.candidate, msg.sdp_mid, msg.sdp_mline_index)

    async def on_multiview(self, msg):
        return await control.multiview(self.actor, msg.room_ids)

    async def _send_quality(self):
        """The chair's console sees every room's media quality, refreshed every few seconds."""
        from confserver.media import service

        while True:
            await asyncio.sleep(settings.MEDIA_QUALITY_PERIOD_S)
            try:
                rooms = await service.quality(self.meeting_id)
            except Exception:  # a relay that does not answer now may answer next time
                log.warning("media quality of meeting %s unavailable", self.meeting_id, exc_info=True)
                continue
            if rooms:
                try:
                    await self.send_json({"type": "stats", "rooms": {str(k): v for k, v in rooms.items()}})
                except Exception:
                    log.exception("meeting %s: sending media quality failed", self.meeting_id)

    async def on_unavailable(self, msg):
        raise DomainError("unavailable", f"'{msg.type}' chưa được hỗ trợ trên máy chủ này.")

    # ---- from the channel layer --------------------------------------------

    async def meeting_closed(self, message):
        if message["type"] == "meeting.ended":
            await self.meeting_ended(message)
        elif message["type"] == relayrestart.MESSAGE:  # its relay process restarted: reconnect the media now
            relayrestart.on_message(self, message)

    def too_slow(self):
        """The client fell too far behind: cut it off; the session keeps collecting for its resume."""
        sessions.detach(self.session)
        self.closing = True
        _spawn(self._cut_off(CLOSE_TOO_SLOW))

    async def meeting_notify(self, message):
        """An event for this connection's room alone (its own roll-call mark), numbered like the rest."""
        if self.session is not None and not self.closing:
            if self.session.deliver(self.session.stamp_event(message["event"])):
                metrics.EVENTS_SENT.inc()

    async def meeting_may_join(self, message):
        """The meeting opened, or the chair let this dropped room back: a waiting socket joins now."""
        if self.session is None and self.waiting and not self.closing:
            await self.send_json({"type": "may_join", "reason": message.get("reason")})

    async def meeting_replaced(self, message):
        await self._close_with("replaced", CLOSE_REPLACED, "Phòng đã kết nối từ nơi khác.")

    async def meeting_dropped(self, message):
        await self._close_with("dropped", CLOSE_DROPPED, "Chủ trì đã ngắt kết nối phòng.")

    async def meeting_ended(self, message):
        await self._close_with("ended", CLOSE_ENDED, "Cuộc họp đã kết thúc.")

    async def _close_with(self, event, code, text):
        if self.closing:
            return
        self.closing = self.settled = True
        try:
            if self.session is not None:
                await self.send(text_data=self.session.stamp_event({"event": event, "message": text}))
            await self.close(code=code)
        finally:  # in a task of its own: this may run in the meeting's hub, which the exit may stop
            _spawn(self._finish())

    # ---- helpers ------------------------------------------------------------

    async def send_json(self, obj):
        import json

        await self.send(text_data=json.dumps(obj, ensure_ascii=False, separators=(",", ":")))

    async def send_error(self, rid, code, message):
        await self.send_json({"type": "error", "id": protocol.safe_id(rid), "code": code, "message": message})
