"""The delegate WebSocket ws/delegates/<meeting_id>/: the delegate's tablet follows the meeting.

The token rides Sec-WebSocket-Protocol as the rooms' does (rooms/subprotocol.py: "confserver" and
"confserver.token.<token>"); without one, the signed-in account's delegate seat is used. The socket only
listens: it receives what delegates need of the meeting's events (agenda item, presenter and page, papers
published, state, check-ins) and everything sent with live.send_to_delegates (votes, speakers).
Messages out are the events themselves, each a JSON object tagged by "event"; first {"event": "hello", ...}.
"""

import json
import logging

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from confserver.errors import DomainError
from confserver.rooms.subprotocol import SUBPROTOCOL, token_from_subprotocols
from confserver.signaling.control import CHAIR
from confserver.signaling.control import group_name as meeting_group

from . import checkin, live, tokens
from .models import Delegate

log = logging.getLogger(__name__)

CLOSE_REFUSED, CLOSE_ENDED = 4403, 4000  # as the meeting socket's
# The meeting's events a delegate's page needs (signaling and agenda domains).
MEETING_EVENTS = {"agenda_item", "present", "present_stop", "agenda_published", "state", "delegate_checkin"}


@database_sync_to_async
def _admit(token: str | None, user, meeting_id: int) -> tuple[Delegate, dict]:
    if not 0 < meeting_id < 2**63:
        raise tokens.invalid()
    if token is not None:
        d = tokens.verify(token, meeting_id)
    elif user is not None and user.is_authenticated:
        d = Delegate.objects.select_related("meeting", "room").filter(meeting_id=meeting_id, user=user).first()
        if d is None:
            raise DomainError("not_delegate", "Tài khoản này không phải đại biểu của cuộc họp.", status=403)
    else:
        raise DomainError("delegate_required", "Cần mở bằng liên kết đại biểu hoặc đăng nhập.", status=401)
    return d, checkin.quorum(d.meeting)


class DelegateConsumer(AsyncWebsocketConsumer):
    groups_joined: tuple = ()

    async def connect(self):
        self.meeting_id = self.scope["url_route"]["kwargs"]["meeting_id"]
        offered = self.scope.get("subprotocols") or []
        await self.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
        try:
            self.delegate, q = await _admit(token_from_subprotocols(offered), self.scope.get("user"), self.meeting_id)
        except DomainError as exc:
            await self.send(
                json.dumps({"event": "error", "code": exc.code, "message": exc.message}, ensure_ascii=False)
            )
            return await self.close(code=CLOSE_REFUSED)
        # A socket opened with the account (no token) is not ended by revoking links.
        self.token_version = self.delegate.token_version if token_from_subprotocols(offered) else 2**62
        self.groups_joined = (live.group_name(self.meeting_id), meeting_group(self.meeting_id))
        for g in self.groups_joined:
            await self.channel_layer.group_add(g, self.channel_name)
        d = self.delegate
        await self._out(
            {
                "event": "hello",
                "meeting_id": self.meeting_id,
                "delegate_id": d.pk,
                "name": d.name,
                "checked_in": d.checked_in_at is not None,
                "quorum": q,
            }
        )

    async def disconnect(self, code):
        for g in self.groups_joined:
            await self.channel_layer.group_discard(g, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        if text_data and '"ping"' in text_data[:64]:
            await self._out({"event": "pong"})

    async def dispatch(self, message):
        # The meeting's group also carries messages for room sessions (closes, probes): not ours.
        if hasattr(self, get_handler_name(message)):
            await super().dispatch(message)

    async def _out(self, event: dict):
        await self.send(json.dumps(event, ensure_ascii=False, separators=(",", ":")))

    async def delegates_event(self, message):
        await self._out(message["event"])

    async def delegates_revoked(self, message):
        """The delegate's links were revoked (live.revoked): a socket opened with one of them closes."""
        if message.get("delegate_id") == self.delegate.pk and self.token_version < message.get("version", 0):
            await self._out(
                {
                    "event": "error",
                    "code": tokens.INVALID,
                    "message": "Liên kết đại biểu đã bị thu hồi; xin ban tổ chức gửi liên kết mới.",
                }
            )
            await self.close(code=CLOSE_REFUSED)

    async def meeting_ended(self, message):
        await self._out({"event": "ended", "message": "Cuộc họp đã kết thúc."})
        await self.close(code=CLOSE_ENDED)

    async def meeting_event(self, message):
        ev = message.get("event") or {}
        if message.get("to") != CHAIR and ev.get("event") in MEETING_EVENTS:
            await self._out(ev)
