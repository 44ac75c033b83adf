"""The meeting WebSocket protocol: every message in both directions as a pydantic model.

Client messages are one discriminated union on `type` with extra fields
forbidden; each carries an `id` that the server echoes in its `ok` or `error`
reply. Server notifications (`event`) carry a per-session sequence number
`seq` so a client that reconnects can ask for what it missed.
docs/protocol.md explains it; docs/protocol-*.schema.json are generated from here.
"""

import json
import math
import re
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from confserver.fields import reject_nul

MAX_MESSAGE_BYTES = 64 * 1024
PEEK_MAX_CHARS = 1024  # frames up to this size have their id read for a rate_limited reply

RequestId = Annotated[int | Annotated[str, Field(max_length=64)], Field(union_mode="left_to_right")]
RoomId = Annotated[int, Field(ge=1)]


class Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    id: RequestId

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data):
        return reject_nul(data)  # one check for all text input, HTTP's too (confserver/fields.py)


# ---- client → server -------------------------------------------------------


class Resume(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    session: str = Field(min_length=1, max_length=64)
    last_seq: int = Field(ge=0)


class Join(Msg):
    """First message on a connection: take the room's (or the chair's) place in the meeting."""

    type: Literal["join"]
    resume: Resume | None = None


class Leave(Msg):
    type: Literal["leave"]


class Ping(Msg):
    """Keep-alive, and the acknowledgement of notifications: `ack` echoes the `ack` token of the
    latest ping (or join) reply the client has read, and the reply brings a new one. A session
    more than `max_unacked` (in the join reply) notifications ahead of its acknowledgements is cut
    off with close code 4008 and resumes on reconnect."""

    type: Literal["ping"]
    ack: str | None = Field(default=None, min_length=1, max_length=32)


class GetSnapshot(Msg):
    type: Literal["snapshot"]


class RaiseHand(Msg):
    """A room asks for the floor."""

    type: Literal["raise_hand"]


class LowerHand(Msg):
    """A room withdraws its request, or gives back the floor it holds."""

    type: Literal["lower_hand"]


class GrantFloor(Msg):
    type: Literal["grant_floor"]
    room_id: RoomId
    may_present: bool = False  # the room may also drive the synced document view


class RevokeFloor(Msg):
    type: Literal["revoke_floor"]


class SetFloorLimit(Msg):
    """The chair sets how long the room with the floor may speak (from when it got it), or clears it."""

    type: Literal["set_floor_limit"]
    limit_s: int | None = Field(default=None, ge=1, le=4 * 3600)


class BroadcastRoom(Msg):
    """The chair makes one room what every room watches."""

    type: Literal["broadcast_room"]
    room_id: RoomId


class LectureMode(Msg):
    """Everyone watches the chair."""

    type: Literal["lecture_mode"]


class MuteRoom(Msg):
    type: Literal["mute_room"]
    room_id: RoomId
    muted: bool


class PinTier(Msg):
    """The chair pins a room to a tier of the program's video (issue 15: full, t0t1 half the frames, t0 a
    quarter, low the source's shared 320x180 layer, audio only), or lets its link decide again (tier null)."""

    type: Literal["pin_tier"]
    room_id: RoomId
    tier: Literal["full", "t0t1", "t0", "low", "audio"] | None = None


class DropRoom(Msg):
    type: Literal["drop_room"]
    room_id: RoomId


class ReadmitRoom(Msg):
    """ "Cho vào lại": a room the chair dropped may join again (it joins at once if it waits)."""

    type: Literal["readmit_room"]
    room_id: RoomId


class SetState(Msg):
    """Move the meeting on: test_run, live, ended."""

    type: Literal["set_state"]
    state: Literal["test_run", "live", "ended"]


class RollCallStart(Msg):
    type: Literal["roll_call_start"]


class RollCallEnd(Msg):
    type: Literal["roll_call_end"]


class RollCallAnswer(Msg):
    """A room answers the roll call: present online."""

    type: Literal["roll_call_answer"]


class RollCallMark(Msg):
    """The chair's operator marks a room (present in person, absent with a reason...)."""

    type: Literal["roll_call_mark"]
    room_id: RoomId
    status: Literal["not_marked", "present_online", "present_in_person", "absent"]
    reason: str = Field(default="", max_length=300)


class SdpOffer(Msg):
    """WebRTC: the client's offer to the media relay; the reply carries the answer."""

    type: Literal["sdp_offer"]
    sdp: str = Field(min_length=10, max_length=60000)


class IceCandidate(Msg):
    type: Literal["ice_candidate"]
    candidate: str | None = Field(default=None, max_length=1000)
    sdp_mid: str | None = Field(default=None, max_length=64)
    sdp_mline_index: int | None = Field(default=None, ge=0, le=64)


class Multiview(Msg):
    """The chair console's grid: which rooms its extra video slots show (one page, up to 16)."""

    type: Literal["multiview"]
    room_ids: list[RoomId] = Field(max_length=16)


class SetAgendaItem(Msg):
    """Paperless: the chair moves the meeting to an agenda item (null: none)."""

    type: Literal["agenda_item"]
    item_id: int | None = Field(ge=1)


class Present(Msg):
    """Paperless: the presenter shows a document page; rooms in the synced view follow."""

    type: Literal["present"]
    version_id: int = Field(ge=1)
    page: int = Field(ge=1)


class PresentStop(Msg):
    type: Literal["present_stop"]


class SyncState(Msg):
    """Paperless: where the synced view is (to jump back after reading elsewhere)."""

    type: Literal["sync_state"]


class RecordingStart(Msg):
    """The chair starts (or restarts) recording the program, in the test run or while live."""

    type: Literal["recording_start"]


class RecordingStop(Msg):
    """The chair stops recording (Decision 45/2018/QĐ-TTg: the chair decides whether it is recorded)."""

    type: Literal["recording_stop"]


CLIENT_MODELS = (
    Join,
    Leave,
    Ping,
    GetSnapshot,
    RaiseHand,
    LowerHand,
    GrantFloor,
    RevokeFloor,
    SetFloorLimit,
    BroadcastRoom,
    LectureMode,
    MuteRoom,
    PinTier,
    DropRoom,
    ReadmitRoom,
    SetState,
    RollCallStart,
    RollCallEnd,
    RollCallAnswer,
    RollCallMark,
    SdpOffer,
    IceCandidate,
    Multiview,
    SetAgendaItem,
    Present,
    PresentStop,
    SyncState,
    RecordingStart,
    RecordingStop,
)
# Union over the tuple: one class per message type (not writable with `|` without listing them again).
ClientMessage = Annotated[Union[CLIENT_MODELS], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007
CLIENT_TYPES = frozenset(get_args(m.model_fields["type"].annotation)[0] for m in CLIENT_MODELS)
_client_adapter = TypeAdapter(ClientMessage)


# ---- server → client -------------------------------------------------------


class Ok(BaseModel):
    """The reply to a request; `data` depends on the request."""

    type: Literal["ok"] = "ok"
    id: RequestId
    data: dict[str, Any] = Field(default_factory=dict)


class Error(BaseModel):
    type: Literal["error"] = "error"
    id: RequestId | None = None
    code: str
    message: str


class Event(BaseModel):
    """A notification. `event` names it; the other fields depend on it (see docs/protocol.md)."""

    model_config = ConfigDict(extra="allow")
    type: Literal["event"] = "event"
    seq: int
    event: str


class Stats(BaseModel):
    """Media quality per room for the chair's console: frequent, not numbered, never replayed."""

    type: Literal["stats"] = "stats"
    rooms: dict[str, dict[str, Any]]


class MayJoin(BaseModel):
    """To a room's socket whose join was refused with not_started or room_dropped, and that waits:
    join now (the meeting opened, or the chair let the room back). Not numbered, never replayed."""

    type: Literal["may_join"] = "may_join"
    reason: Literal["opened", "readmitted"]


class RelayMove(BaseModel):
    """To a room's socket whose relay died or is drained (issue 11; MEDIA_CASCADE): build a new peer connection
    now and send its offer (`sdp_offer`) as for the first one; the socket stays. Not numbered, never replayed."""

    type: Literal["relay_move"] = "relay_move"
    epoch: int
    reason: Literal["dead", "restarted", "draining"]


ServerMessage = Annotated[Ok | Error | Event | Stats | MayJoin | RelayMove, Field(discriminator="type")]


class ProtocolError(Exception):
    """A message that cannot be parsed; `id` is the request id when it could be read."""

    def __init__(self, code: str, message: str, id=None):
        super().__init__(message)
        self.code, self.message, self.id = code, message, id


_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _unique_keys(pairs):
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate key")
    return obj


def _finite(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _no_constant(name):
    raise ValueError(f"{name} is not JSON")


def _loads(raw: str):
    """json.loads, strictly: no NaN/Infinity, no number out of range, no duplicate keys. Nesting deeper
    than the decoder's recursion limit (~1,000) raises RecursionError, not ValueError (issue 9, finding 4);
    nothing after it recurses into a parsed frame, so shallower nesting costs no more than its size."""
    return json.loads(raw, object_pairs_hook=_unique_keys, parse_float=_finite, parse_constant=_no_constant)


def encodable(text: str) -> bool:
    """True when `text` is valid Unicode (no lone surrogate): it can be sent as UTF-8."""
    return text.isascii() or _SURROGATE.search(text) is None


def safe_id(rid):
    """`rid` as a reply may echo it, or None (not an id, or not sendable as UTF-8)."""
    if isinstance(rid, bool) or not isinstance(rid, (int, str)):
        return None
    if isinstance(rid, str) and (len(rid) > 64 or not encodable(rid)):
        return None
    return rid


def printable(text: str, limit: int = 80) -> str:
    """`text` cut to `limit` characters, lone surrogates escaped, for an error message."""
    text = text[:limit]
    return text if encodable(text) else text.encode("utf-8", "backslashreplace").decode("utf-8")


def _surrogate_at(obj) -> tuple | None:
    """The path to a key or string holding a lone surrogate, or None (iterative: frames nest deep)."""
    todo: list[tuple[tuple, Any]] = [((), obj)]
    while todo:
        path, value = todo.pop()
        if isinstance(value, str):
            if not encodable(value):
                return path
            continue
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, item in items:
            if isinstance(key, str) and not encodable(key):
                return path + (key,)
            todo.append((path + (key,), item))
    return None


def peek_id(raw) -> int | str | None:
    """The id of a small text frame, read without validating it (for a rate_limited reply); else None."""
    if not isinstance(raw, str) or len(raw) > PEEK_MAX_CHARS:
        return None
    try:
        obj = _loads(raw)
    except (ValueError, RecursionError):
        return None
    return safe_id(obj.get("id")) if isinstance(obj, dict) else None


def parse_client(raw: str | bytes) -> BaseModel:
    """Parse one client frame, or raise ProtocolError with a stable code; never anything else."""
    if not isinstance(raw, str):
        raise ProtocolError("binary_frame", "Chỉ nhận khung văn bản (text) chứa JSON; khung nhị phân bị bỏ qua.")
    if len(raw) > MAX_MESSAGE_BYTES:  # a character is at least one byte: too large before encoding it
        raise ProtocolError("too_large", f"Tin nhắn vượt quá {MAX_MESSAGE_BYTES // 1024} KB.")
    try:
        size = len(raw.encode("utf-8"))
    except UnicodeEncodeError:
        raise ProtocolError("bad_encoding", "Tin nhắn không phải văn bản UTF-8 hợp lệ.") from None
    if size > MAX_MESSAGE_BYTES:
        raise ProtocolError("too_large", f"Tin nhắn vượt quá {MAX_MESSAGE_BYTES // 1024} KB.")
    try:
        obj = _loads(raw)
    except ValueError:
        raise ProtocolError("bad_json", "Tin nhắn không phải JSON hợp lệ.") from None
    except RecursionError:
        raise ProtocolError("bad_json", "Tin nhắn JSON lồng nhau quá sâu.") from None
    if not isinstance(obj, dict):
        raise ProtocolError("bad_message", "Tin nhắn phải là một đối tượng JSON.")
    rid = safe_id(obj.get("id"))
    if _SURROGATE_ESCAPE.search(raw) is not None:
        where = _surrogate_at(obj)
        if where is not None:
            name = printable(".".join(str(p) for p in where) or "message")
            raise ProtocolError("invalid_field", f"Trường '{name}': chuỗi chứa ký tự UTF-16 lẻ (surrogate).", rid)
    kind = obj.get("type")
    if not isinstance(kind, str) or kind not in CLIENT_TYPES:
        shown = printable(kind, 40) if isinstance(kind, str) else type(kind).__name__
        raise ProtocolError("unknown_type", f"Loại tin nhắn không được hỗ trợ: {shown!r}.", rid)
    try:
        return _client_adapter.validate_python(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = printable(".".join(str(p) for p in first["loc"][1:]) or "message")
        code = {"extra_forbidden": "extra_field", "missing": "missing_field"}.get(first["type"], "invalid_field")
        raise ProtocolError(code, f"Trường '{field}': {first['msg']}", rid) from None


def schemas() -> dict[str, dict]:
    """JSON Schema of both directions (written to docs/ by `manage.py protocol_schema`)."""
    return {
        "client": TypeAdapter(ClientMessage).json_schema(),
        "server": TypeAdapter(ServerMessage).json_schema(),
    }
