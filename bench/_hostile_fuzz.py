"""Frames outside the meeting protocol's schema, for bench/hostile.py's fuzz case.

Each is (opcode, payload, kind). None is a valid request that changes anything: types that act
(leave, set_state, raise_hand...) always carry a wrong or extra field."""

import json
import random

from _hostile_ws import BINARY, TEXT

TYPES = [
    "join",
    "leave",
    "ping",
    "snapshot",
    "raise_hand",
    "lower_hand",
    "grant_floor",
    "revoke_floor",
    "broadcast_room",
    "lecture_mode",
    "mute_room",
    "drop_room",
    "set_state",
    "roll_call_start",
    "roll_call_end",
    "roll_call_answer",
    "roll_call_mark",
    "sdp_offer",
    "ice_candidate",
    "multiview",
    "agenda_item",
    "present",
    "present_stop",
    "sync_state",
]
SAFE = ("ping", "snapshot", "sync_state")  # valid forms of these change nothing
SURROGATES = ["\\ud800", "\\udfff", "\\udbff\\u0041", "a\\ud83d", "\\ud83d\\ud83d"]


def _nested(depth: int, rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def _odd_value(rng: random.Random):
    """A JSON fragment (text) of an odd value."""
    pick = rng.randrange(12)
    if pick == 0:
        return '"' + rng.choice(SURROGATES) + '"'
    if pick == 1:
        return "9" * rng.choice([20, 400, 4000, 5000])
    if pick == 2:
        return rng.choice(["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "-0", "1.5", "1E999999"])
    if pick == 3:
        return _nested(rng.choice([50, 900, 1000, 3000, 20000]), rng)
    if pick == 4:
        return '"' + "\\u0000" * rng.randrange(1, 50) + '"'
    if pick == 5:
        return json.dumps("".join(chr(rng.randrange(0x20, 0x2FFFF)) for _ in range(rng.randrange(1, 80))))
    if pick == 6:
        return rng.choice(["true", "false", "null", "[]", "{}", '""'])
    if pick == 7:
        return str(rng.choice([-1, 0, 2**63, 2**64, -(2**63) - 1, 2**31]))
    if pick == 8:
        return json.dumps("x" * rng.choice([65, 300, 70000 // 2]))
    if pick == 9:
        return json.dumps([rng.randrange(-5, 2**40) for _ in range(rng.randrange(0, 40))])
    if pick == 10:
        return json.dumps({"session": rng.choice(["", "x" * 100, "s"]), "last_seq": rng.choice([-1, 1.5, "1"])})
    return str(rng.randrange(-(10**6), 10**6))


def _message(rng: random.Random) -> str:
    """An object with a type and an id, and at least one field outside the schema."""
    t = rng.choice(TYPES + ["", "JOIN", "ping ", "x" * 100, "__class__"])
    rid = rng.choice(["1", '"a"', _odd_value(rng), '"' + rng.choice(SURROGATES) + '"', "true", "1.0"])
    fields = [f'"type":{json.dumps(t)}', f'"id":{rid}']
    for _ in range(rng.randrange(1, 4)):
        name = rng.choice(
            [
                "room_id",
                "muted",
                "state",
                "reason",
                "ack",
                "resume",
                "sdp",
                "item_id",
                "page",
                "room_ids",
                "status",
                "extra",
                "type",
                "id",
                "\\ud800",
                "x" * 70,
            ]
        )
        fields.append(f"{json.dumps(name)}:{_odd_value(rng)}")
    if t not in SAFE:
        fields.append('"zz_extra":1')  # never a valid action, whatever the rest
    rng.shuffle(fields)
    return "{" + ",".join(fields) + "}"


def frames(rng: random.Random):
    """An endless stream of (opcode, payload bytes, kind)."""
    while True:
        pick = rng.randrange(100)
        if pick < 45:
            body = _message(rng)
            yield TEXT, body.encode("utf-8", "surrogatepass"), "message"
        elif pick < 55:
            yield TEXT, _odd_value(rng).encode(), "value"
        elif pick < 63:
            depth = rng.choice([990, 1000, 5000, 30000])
            inner = _nested(depth, rng)
            body = rng.choice(
                [inner, '{"type":"ping","id":' + inner + "}", '{"type":"ping","id":1,"ack":' + inner + "}"]
            )
            yield TEXT, body.encode(), "deep"
        elif pick < 71:
            s = rng.choice(SURROGATES)
            body = rng.choice(
                [
                    '{"type":"ping","id":"%s"}',
                    '{"type":"nope","id":"%s"}',
                    '{"type":"%s","id":1}',
                    '{"type":"ping","id":1,"ack":"%s"}',
                    '{"type":"snapshot","id":"%s","x":1}',
                ]
            )
            yield TEXT, (body % s).encode(), "surrogate"
        elif pick < 79:
            raw = rng.randbytes(rng.randrange(1, 300))
            yield BINARY, raw, "binary"
        elif pick < 85:
            bad = rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"])
            body = b'{"type":"ping","id":"' + bad + b'"}'
            yield BINARY, body, "binary_utf8"
        elif pick < 90:
            body = json.dumps({"type": "ping", "id": 1}).encode()
            cut = rng.randrange(0, len(body))
            yield TEXT, body[:cut] + rng.choice([b"", b",", b"}}", b"\\", b'"']), "broken"
        elif pick < 93:
            yield TEXT, b"x" * rng.choice([65537, 70000]), "too_large"
        elif pick < 95:
            yield TEXT, b"", "empty"
        else:
            body = rng.choice(
                [
                    '{"type":"leave","id":1,"type":"ping","zz":1}',
                    '{"type":"ping","id":1,"id":{"a":1}}',
                    '{"type":"ping","id":1} {"type":"ping","id":2}',
                    '\ufeff{"type":"ping","id":1}',
                ]
            )
            yield TEXT, body.encode(), "duplicate"


def invalid_utf8_text() -> bytes:
    """A text frame's payload that is not UTF-8 (RFC 6455 §8.1: the server fails the connection, 1007)."""
    return b'{"type":"ping","id":"\xff\xfe"}'
