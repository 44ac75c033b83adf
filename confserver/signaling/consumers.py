"""The meeting WebSocket: parse, authorise, call one domain function, send what it returns."""
import asyncio
import logging
import time
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from confserver.errors import DomainError
from confserver.rooms import tokens

from . import control, protocol, sessions
from .control import group_name

log = logging.getLogger(__name__)

# Close codes (4000-4999 are the application's).
CLOSE_REFUSED, CLOSE_REPLACED, CLOSE_DROPPED, CLOSE_TOO_SLOW, CLOSE_FLOOD, CLOSE_ENDED = 4403, 4001, 4004, 4008, 4029, 4000

# Grace timers of detached connections, owned here so they can be cancelled.
_grace_tasks: set[asyncio.Task] = set()


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

    # ---- connection ---------------------------------------------------------

    async def connect(self):
        self.meeting_id = self.scope["url_route"]["kwargs"]["meeting_id"]
        self.bucket, self.bucket_at, self.flood = float(settings.SIGNALING_BURST), time.monotonic(), 0
        self.closing = False
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

    async def refuse(self, exc: DomainError):
        await self.send_json({"type": "error", "id": None, "code": exc.code, "message": exc.message})
        await self.close(code=CLOSE_REFUSED)

    async def disconnect(self, code):
        for name in ("quality_task", "writer"):
            task = getattr(self, name, None)
            if task is not None:
                task.cancel()
        if self.actor is None or self.session is None:
            return
        if self.closing:
            return await sessions.close(self.session)
        sessions.detach(self.session)
        await control.detach(self.actor)
        task = asyncio.ensure_future(self._leave_after_grace(self.actor, self.session))
        _grace_tasks.add(task)
        task.add_done_callback(_grace_tasks.discard)

    async def _leave_after_grace(self, actor, session):
        """The room is shown as present for the grace period, then leaves unless it came back."""
        await asyncio.sleep(settings.SIGNALING_GRACE_S)
        if session.detached_at is None:
            return  # resumed on this process
        await sessions.close(session)
        try:
            await self.tell(await control.leave(actor, reason="connection_lost"))
        except Exception:
            log.exception("leave after grace failed for room %s", actor.room_id)

    # ---- incoming -----------------------------------------------------------

    async def dispatch(self, message):
        """As channels' dispatch, without its hop to the sync thread to close stale database
        connections before every message: all database work here goes through
        database_sync_to_async, which does that in its own thread. (That hop serialised a burst
        of joins behind one thread.)"""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def websocket_disconnect(self, message):
        """As channels' (this consumer joins no groups of its own), without the sync-thread hop."""
        await self.disconnect(message["code"])
        raise StopConsumer()

    async def receive(self, text_data=None, bytes_data=None):
        if self.actor is None or self.closing:
            return
        if not self._take_token():
            self.flood += 1
            if self.flood > settings.SIGNALING_BURST * 5:
                self.closing = True
                return await self.close(code=CLOSE_FLOOD)
            return await self.send_error(None, "rate_limited", "Gửi quá nhanh; tin nhắn bị bỏ qua.")
        self.flood = 0  # only refusals in a row count towards closing the connection
        try:
            msg = protocol.parse_client(text_data if text_data is not None else bytes_data)
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
            return await self.send_error(msg.id, "internal", "Lỗi máy chủ; thao tác chưa được thực hiện.")
        if isinstance(outcome, control.Outcome):
            await self.send_json({"type": "ok", "id": msg.id, "data": outcome.reply})
            await self.tell(outcome)

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
        except DomainError:
            if session is not resumed:
                await sessions.close(session)
            raise
        self.session = session
        # Notifications numbered while the join was under way are in the outbox: they follow the
        # reply, like a resume's (a fresh session's snapshot comes from a view read meanwhile, and
        # applying an event twice is harmless). From here on every notification reaches the queue;
        # read the missed ones and attach with no await in between.
        missed = session.missed_since(since)
        if missed is None:  # more than the outbox came in during the join: a snapshot instead
            since, missed, view, resumed = session.seq, [], None, None
        cap = settings.SIGNALING_MAX_BACKLOG
        queue = session.attach(self.meeting_closed, self.too_slow, acked=max(since, session.seq - cap // 2))
        reply = {"session": session.id, "seq": since, "resumed": resumed is not None, "max_unacked": cap,
                 "ack": session.ack_token(upto=since)}
        if resumed is not None:
            reply["replayed"] = len(missed)
        else:
            reply["snapshot"] = await control.snapshot(a, state, view)
        await self.send_json({"type": "ok", "id": msg.id, "data": reply})
        for text in missed:
            await self.send(text_data=text)
        self.writer = asyncio.ensure_future(self._write(queue))
        self._start_quality()
        await self.tell(outcome)
        return None

    async def _write(self, queue: asyncio.Queue):
        """Send the session's notifications in order (after the join reply and any replay)."""
        while True:
            await self.send(text_data=await queue.get())

    def _start_quality(self):
        if self.actor.is_chair and getattr(self, "quality_task", None) is None:
            self.quality_task = asyncio.ensure_future(self._send_quality())

    async def on_leave(self, msg):
        outcome = await control.leave(self.actor)
        self.closing = True
        await self.send_json({"type": "ok", "id": msg.id, "data": {}})
        await self.tell(outcome)
        await self.close()

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

    async def on_broadcast_room(self, msg):
        return await control.broadcast_room(self.actor, msg.room_id)

    async def on_lecture_mode(self, msg):
        return await control.lecture_mode(self.actor)

    async def on_mute_room(self, msg):
        return await control.mute_room(self.actor, msg.room_id, msg.muted)

    async def on_drop_room(self, msg):
        return await control.drop_room(self.actor, msg.room_id)

    async def on_set_state(self, msg):
        return await control.set_state(self.actor, msg.state)

    async def on_roll_call_start(self, msg):
        return await control.roll_call_start(self.actor)

    async def on_roll_call_end(self, msg):
        return await control.roll_call_end(self.actor)

    async def on_roll_call_answer(self, msg):
        return await control.roll_call_answer(self.actor)

    async def on_roll_call_mark(self, msg):
        return await control.roll_call_mark(self.actor, msg.room_id, msg.status, msg.reason)

    async def on_agenda_item(self, msg):
        return await control.agenda_item(self.actor, msg.item_id)

    async def on_present(self, msg):
        return await control.present(self.actor, msg.version_id, msg.page)

    async def on_present_stop(self, msg):
        return await control.present_stop(self.actor)

    async def on_sync_state(self, msg):
        return await control.sync_state(self.actor)

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
                await self.send_json({"type": "stats", "rooms": {str(k): v for k, v in rooms.items()}})

    async def on_unavailable(self, msg):
        raise DomainError("unavailable", f"'{msg.type}' chưa được hỗ trợ trên máy chủ này.")

    # ---- from the channel layer --------------------------------------------

    async def meeting_closed(self, message):
        if message["type"] == "meeting.ended":
            await self.meeting_ended(message)

    def too_slow(self):
        """The client fell too far behind: cut it off; the session keeps collecting for its resume."""
        sessions.detach(self.session)
        asyncio.ensure_future(self.close(code=CLOSE_TOO_SLOW))

    async def meeting_notify(self, message):
        """An event for this connection's room alone (its own roll-call mark), numbered like the rest."""
        if self.session is not None and not self.closing:
            self.session.deliver(self.session.stamp_event(message["event"]))

    async def meeting_replaced(self, message):
        await self._close_with("replaced", CLOSE_REPLACED, "Phòng đã kết nối từ nơi khác.")

    async def meeting_dropped(self, message):
        await self._close_with("dropped", CLOSE_DROPPED, "Chủ trì đã ngắt kết nối phòng.")

    async def meeting_ended(self, message):
        await self._close_with("ended", CLOSE_ENDED, "Cuộc họp đã kết thúc.")

    async def _close_with(self, event, code, text):
        if self.closing:
            return
        self.closing = True
        if self.session is not None:
            await self.send(text_data=self.session.stamp_event({"event": event, "message": text}))
        await self.close(code=code)

    # ---- helpers ------------------------------------------------------------

    async def send_json(self, obj):
        import json

        await self.send(text_data=json.dumps(obj, ensure_ascii=False, separators=(",", ":")))

    async def send_error(self, rid, code, message):
        await self.send_json({"type": "error", "id": rid, "code": code, "message": message})
