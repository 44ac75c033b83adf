"""Issue 15: the relay's redundant audio (media/red.py, RFC 2198): the previous packet rides with each one when
it is recent and small enough; a receiver reads the primary and the redundant blocks back."""

from confserver.media import red
from confserver.media.tiers import AUDIO, FULL, T0, T0T1


def test_the_previous_packet_rides_along():
    body = red.payload(111, b"now", 96_960, (96_000, b"before"))
    assert body[0] == 0x80 | 111  # a redundant block of Opus follows
    primary, redundant = red.primary(body)
    assert primary == b"now" and redundant == [(960, b"before")]


def test_no_redundancy_for_a_packet_too_old_or_too_big_or_none():
    for previous in (None, (0, b"x"), (96_960 - red.MAX_OFFSET - 1, b"x"), (96_000, b"x" * (red.MAX_BLOCK + 1))):
        body = red.payload(111, b"now", 96_960, previous)
        assert body == bytes((111,)) + b"now", previous
        assert red.primary(body) == (b"now", [])


def test_the_timestamp_wraps():
    primary, redundant = red.primary(red.payload(111, b"b", 500, (0xFFFFFFFF - 459, b"a")))
    assert primary == b"b" and redundant == [(960, b"a")]


def test_only_the_low_tiers_take_it():
    assert red.wanted(T0) and red.wanted("low")
    assert not any(red.wanted(t) for t in (FULL, T0T1, AUDIO))


def test_a_payload_cut_short_gives_nothing():
    whole = red.payload(111, b"now", 96_960, (96_000, b"before"))
    for cut in (b"", whole[:2], whole[:5], whole[:8]):
        assert red.primary(cut) == (b"", []), cut


def _offer_red(sdp: str) -> str:
    """The offer with `red/48000/2` (blocks: its Opus) after Opus on the audio m-line, as a browser offers it."""
    opus = next(line.split()[0].split(":")[1] for line in sdp.splitlines() if "opus/48000/2" in line)
    out = []
    for line in sdp.splitlines():
        if line.startswith("m=audio"):
            line += " 63"
        out.append(line)
        if line.startswith(f"a=rtpmap:{opus} "):
            out += ["a=rtpmap:63 red/48000/2", f"a=fmtp:63 {opus}/{opus}"]
    return "\r\n".join(out) + "\r\n"


def _send_red(bot, opus_sent: set[bytes]) -> list[int]:
    """Make the bot's Opus leave as RED (each packet with the previous one): a publisher that sends any payload
    type it negotiated; each Opus payload goes into `opus_sent`. Returns [RED packets sent]."""
    dtls = bot.pc.getTransceivers()[0].sender.transport
    audio = next(t for t in bot.pc.getTransceivers() if t.kind == "audio")
    opus = audio._codecs[0].payloadType
    original, sent, previous = dtls._send_rtp, [0], {}

    async def send(data: bytes) -> None:
        if len(data) > 12 and data[1] & 0x7F == opus and not data[0] & 0x20:  # no padding from aiortc's Opus
            head = 12 + 4 * (data[0] & 0x0F)
            if data[0] & 0x10:  # header extensions
                head += 4 + 4 * int.from_bytes(data[head + 2 : head + 4], "big")
            ts = int.from_bytes(data[4:8], "big")
            payload = red.payload(opus, data[head:], ts, previous.get("last"))
            previous["last"] = (ts, data[head:])
            opus_sent.add(data[head:])
            data = data[:1] + bytes(((data[1] & 0x80) | 63,)) + data[2:head] + payload
            sent[0] += 1
        await original(data)

    dtls._send_rtp = send
    return sent


async def test_a_publisher_that_sends_red_reaches_the_rooms_as_opus(relay, make_bot):
    from .conftest import until

    publisher, room = make_bot("A", tone_hz=440), make_bot("B", publish=False)
    offer = _offer_red(await publisher.offer())
    answer = await relay.open_peer("A", offer)
    assert "red/48000/2" in answer
    await publisher.accept(answer)
    await publisher.wait_connected(10)
    await room.accept(await relay.open_peer("B", await room.offer()))  # aiortc offers no RED: plain Opus to it
    await room.wait_connected(10)
    opus_sent: set[bytes] = set()
    sent = _send_red(publisher, opus_sent)
    received: list[bytes] = []
    receiver = next(t.receiver for t in room.pc.getTransceivers() if t.kind == "audio")
    handle = receiver._handle_rtp_packet

    async def seen(packet, arrival_time_ms: int) -> None:
        received.append(packet.payload)
        await handle(packet, arrival_time_ms)

    receiver._handle_rtp_packet = seen
    relay.set_program("A", ["A"])
    await until(lambda: len(received) > 50, timeout=10, what="the program's audio at the room")
    assert sent[0] > 50
    # what the room gets is the publisher's Opus, each packet once (not the RED blocks around it)
    assert all(payload in opus_sent for payload in received), [p[:4] for p in received if p not in opus_sent][:3]
    await until(lambda: room.audio[0].loud > 20, timeout=10, what="the tone decoded by the room")
