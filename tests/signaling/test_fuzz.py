"""Generated frames, valid and malformed, at the parser (2,000 hypothesis examples) and 10,000 through
the live consumer (which parses each one too); and frames outside the schema's shapes (deep nesting, escapes,
lone surrogates, invalid UTF-8, binary, huge, NaN, duplicate keys) through both (issue 9, finding 4)."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from confserver.signaling import protocol

from .conftest import connect

TYPES = sorted(protocol.CLIENT_TYPES)
N_CONSUMER = 10_000
# Codes a frame may get (docs/protocol.md): for the frame itself, then for refused actions.
FRAME_CODES = {
    "bad_json",
    "bad_message",
    "unknown_type",
    "extra_field",
    "missing_field",
    "invalid_field",
    "too_large",
    "binary_frame",
    "bad_encoding",
    "rate_limited",
}
DOCUMENTED = FRAME_CODES | {
    "not_joined",
    "already_joined",
    "chair_only",
    "room_only",
    "bad_state",
    "bad_transition",
    "room_not_invited",
    "room_offline",
    "already_raised",
    "not_raised",
    "has_floor",
    "no_floor",
    "is_chair",
    "roll_call_active",
    "roll_call_inactive",
    "reason_required",
    "meeting_ended",
    "not_started",
    "bad_ack",
    "unavailable",
    "not_presenter",
    "version_not_found",
    "bad_page",
    "item_not_found",
    "document_not_found",
    "not_visible",
    "confidential",
    "agenda_not_published",
    "internal",
    "already_recording",
    "not_recording",
    "recording_busy",
    "recording_start_failed",
}


def documented(code: str) -> bool:
    return code in DOCUMENTED or code.startswith("media.")  # the relay's codes share one prefix


def nested(depth, open_="[", close="]", inner="1"):
    return open_ * depth + inner + close * depth


# (frame, the code it gets or "ok", the id its reply carries)
HOSTILE = [
    (nested(10), "bad_message", None),
    (nested(500), "bad_message", None),
    (nested(1000), "bad_json", None),
    (nested(100_000), "too_large", None),
    ('{"type": "ping", "id": 1, "x": ' + nested(800) + "}", "extra_field", 1),  # ~900+: bad_json
    ('{"a":' * 1000 + "1" + "}" * 1000, "bad_json", None),
    (r'{"type": "ping", "id": "\\ \" \/ \b \f \n \r \t \u00e9 \u0041"}', "ok", '\\ " / \b \f \n \r \t é A'),
    (r'{"type": "ping", "id": "\ud800"}', "invalid_field", None),
    (r'{"type": "ping", "id": "\udfff\ud800"}', "invalid_field", None),
    (r'{"type": "ping", "id": "ok-\ud83d\ude00"}', "ok", "ok-\U0001f600"),  # a surrogate pair is one character
    (r'{"type": "\ud800", "id": 2}', "invalid_field", 2),
    (r'{"type": "ping", "id": 3, "ack": "\udbff"}', "invalid_field", 3),
    (r'{"type": "roll_call_mark", "id": 4, "room_id": 1, "status": "absent", "reason": "x\ud800"}', "invalid_field", 4),
    (r'{"type": "ping", "id": 5, "\ud800": 1}', "invalid_field", 5),
    (r'{"type": "ping", "id": 6, "x": [[{"y": "\ude00"}]]}', "invalid_field", 6),
    ('{"type": "ping", "id": "\ud800"}', "bad_encoding", None),  # a raw lone surrogate: not text at all
    (r'{"type": "ping", "id": "\u12"}', "bad_json", None),
    (r'{"type": "ping", "id": "\x41"}', "bad_json", None),
    ('{"type": "ping", "id": 1e999}', "bad_json", None),
    ('{"type": "ping", "id": -1e999}', "bad_json", None),
    ('{"type": "ping", "id": NaN}', "bad_json", None),
    ('{"type": "ping", "id": Infinity}', "bad_json", None),
    ('{"type": "ping", "id": 1.5}', "invalid_field", None),
    ('{"type": "ping", "id": ' + "9" * 5000 + "}", "bad_json", None),
    ('{"type": "ping", "id": 7, "id": 8}', "bad_json", None),
    ('{"type": "ping", "type": "leave", "id": 9}', "bad_json", None),
    ('{"type": "ping", "id": true}', "invalid_field", None),
    ('{"type": "ping", "id": "' + "x" * 65 + '"}', "invalid_field", None),
    ('{"type": "ping", "id": 10, "pad": "' + "é" * 40_000 + '"}', "too_large", None),  # 80 KB as UTF-8
    ("\ufeff" + '{"type": "ping", "id": 11}', "bad_json", None),
    ("", "bad_json", None),
    (" \t\n", "bad_json", None),
    ("null", "bad_message", None),
    (r'"\ud800"', "bad_message", None),
    ('{"type": "ping", "id": 12}garbage', "bad_json", None),
    (b'{"type": "ping", "id": 13}', "binary_frame", None),
    (b"\xff\xfe\x00garbage", "binary_frame", None),
    (b"\xc3\x28", "binary_frame", None),  # invalid UTF-8 reaches the application only in a binary frame
]


@pytest.mark.parametrize("raw,code,rid", HOSTILE, ids=[f"h{i}" for i in range(len(HOSTILE))])
def test_hostile_frames_get_documented_codes(raw, code, rid):
    try:
        msg = protocol.parse_client(raw)
    except protocol.ProtocolError as exc:
        assert (exc.code, protocol.safe_id(exc.id)) == (code, rid), exc.message
        assert exc.code in FRAME_CODES and exc.message.encode("utf-8")
    else:
        assert (code, msg.id) == ("ok", rid)


FIELDS = [
    "id",
    "type",
    "room_id",
    "muted",
    "state",
    "status",
    "reason",
    "resume",
    "sdp",
    "candidate",
    "room_ids",
    "item_id",
    "version_id",
    "page",
    "extra",
    "session",
    "last_seq",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(TYPES + ["test_run", "live", "absent"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(FIELDS), inner, max_size=4)),
    max_leaves=8,
)
# Messages that look like protocol messages: a known or unknown type, an id, some known and unknown fields.
messages = st.builds(
    lambda t, rid, extra: {"type": t, "id": rid, **extra},
    st.one_of(st.sampled_from(TYPES), st.text(max_size=12)),
    st.one_of(st.integers(0, 10**6), st.text(max_size=10), st.none(), st.booleans()),
    st.dictionaries(st.sampled_from(FIELDS), values, max_size=4),
)
frames = st.one_of(
    messages.map(json.dumps),
    values.map(json.dumps),
    st.text(max_size=200),
    st.binary(max_size=100).map(lambda b: b.decode("latin-1")),
)


@settings(max_examples=2_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(frames)
def test_parser_never_crashes(raw):
    try:
        msg = protocol.parse_client(raw)
    except protocol.ProtocolError as exc:
        assert exc.code in FRAME_CODES
        assert exc.message.encode("utf-8")
    else:
        assert msg.type in protocol.CLIENT_TYPES
        assert type(msg).model_validate(msg.model_dump()) == msg


@pytest.mark.django_db(transaction=True)
async def test_consumer_survives_thousands_of_generated_frames(world, settings):
    """Every frame gets exactly one reply (ok or a coded error); the server keeps serving everyone."""
    settings.SIGNALING_RATE = 1e6
    settings.SIGNALING_BURST = 10**6
    chair = await connect(world.meeting_id, cookie=world.host_cookie)
    await chair.join()
    room = await connect(world.meeting_id, token=world.token_a)
    await room.join()
    # Draw 5,000 frames from the same strategies (hypothesis' find-free generation: example()).
    import random
    import warnings

    rng = random.Random(1234)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pool = [frames.example() for _ in range(400)]
    # Leaving, ending the meeting or dropping rooms would end the run early: those are tested elsewhere.
    enders = {"leave", "set_state", "drop_room"}

    def harmless(raw):
        try:
            return protocol.parse_client(raw).type not in enders
        except protocol.ProtocolError:
            return True

    pool = [f for f in pool if harmless(f)]
    types = [t for t in TYPES if t not in enders]
    codes: dict[str, int] = {}
    sent = 0
    for i in range(N_CONSUMER):
        raw = rng.choice(pool)
        if rng.random() < 0.5:
            # a frame from a valid-looking skeleton, with its id forced unique so the reply can be matched
            obj = {"type": rng.choice(types), "id": f"f{i}"}
            if rng.random() < 0.5:
                obj[rng.choice(FIELDS[2:])] = rng.choice([1, "x", None, True, [1], {"a": 1}, 10**12])
            raw = json.dumps(obj)
            if not harmless(raw):
                continue
        target = room if i % 2 else chair
        await target.comm.send_to(text_data=raw or " ")
        reply = await target.reply(timeout=5)
        if reply["type"] == "closed":
            target = (
                await connect(world.meeting_id, token=world.token_a)
                if target is room
                else await connect(world.meeting_id, cookie=world.host_cookie)
            )
            await target.join()
            if target.comm is not room.comm and i % 2:
                room = target
            elif not i % 2:
                chair = target
            continue
        assert reply["type"] in ("ok", "error"), reply
        if reply["type"] == "error":
            assert reply["code"] and reply["message"]
            assert reply["code"] != "internal", (raw, reply)
            assert documented(reply["code"]), reply
            codes[reply["code"]] = codes.get(reply["code"], 0) + 1
        sent += 1
    assert sent >= N_CONSUMER * 0.9 and len(codes) >= 8, codes
    # still serving: a fresh room joins and the chair still answers
    other = await connect(world.meeting_id, token=world.token_b)
    assert (await other.request("ping"))["type"] == "ok"
    assert (await chair.request("ping"))["type"] == "ok"


@pytest.mark.django_db(transaction=True)
async def test_hostile_frames_through_the_live_consumer(world, settings):
    """Each hostile frame gets one coded error (or ok); every frame sent back is valid UTF-8 with a sendable id;
    the socket stays open and keeps answering, and the room stays online. Three rounds: a crash or a leak on a
    second sight shows too."""
    settings.SIGNALING_RATE, settings.SIGNALING_BURST = 1e6, 10**6
    chair = await connect(world.meeting_id, cookie=world.host_cookie)
    await chair.join()
    room = await connect(world.meeting_id, token=world.token_a)
    await room.join()
    for _ in range(3):
        for raw, code, rid in HOSTILE:
            await room.comm.send_input(
                {"type": "websocket.receive", "bytes" if isinstance(raw, bytes) else "text": raw}
            )
            out = await room.comm.receive_output(timeout=5)
            assert out["type"] == "websocket.send", (raw[:60], out)
            reply = json.loads(out["text"].encode("utf-8"))  # daphne encodes it so: a lone surrogate would fail
            if code == "ok":
                assert (reply["type"], reply["id"]) == ("ok", rid)
            else:
                assert (reply["type"], reply["code"], reply["id"]) == ("error", code, rid), (raw[:60], reply)
                assert documented(reply["code"])
        assert (await room.request("ping"))["type"] == "ok"
    snap = (await chair.request("snapshot"))["data"]["snapshot"]
    assert world.room_a in snap["online"]
