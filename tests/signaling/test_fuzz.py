"""Generated frames, valid and malformed, at the parser (2,000 hypothesis examples) and 10,000 through
the live consumer (which parses each one too)."""
import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from confserver.signaling import protocol

from .conftest import connect

TYPES = sorted(protocol.CLIENT_TYPES)
N_CONSUMER = 10_000
FIELDS = ["id", "type", "room_id", "muted", "state", "status", "reason", "resume", "sdp", "candidate", "room_ids",
          "item_id", "version_id", "page", "extra", "session", "last_seq"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63), st.floats(allow_nan=True),
                    st.text(max_size=30), st.sampled_from(TYPES + ["test_run", "live", "absent"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(st.sampled_from(FIELDS), inner, max_size=4)),
                      max_leaves=8)
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
        assert exc.code in {"bad_json", "bad_message", "unknown_type", "extra_field", "missing_field",
                            "invalid_field", "too_large"}
        assert exc.message
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
            target = await connect(world.meeting_id, token=world.token_a) if target is room else \
                await connect(world.meeting_id, cookie=world.host_cookie)
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
            codes[reply["code"]] = codes.get(reply["code"], 0) + 1
        sent += 1
    assert sent >= N_CONSUMER * 0.9 and len(codes) >= 8, codes
    # still serving: a fresh room joins and the chair still answers
    other = await connect(world.meeting_id, token=world.token_b)
    assert (await other.request("ping"))["type"] == "ok"
    assert (await chair.request("ping"))["type"] == "ok"
