"""Issue 15, audio first and the tier loop's inputs: the relay's answers ask for Opus FEC and DTX, and the
relay reads each subscriber's bandwidth feedback (REMB, receiver reports, NACK) in passthrough."""

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import SessionDescription

from confserver.media.bot import ColourTrack, ToneTrack
from confserver.media.config import IceConfig
from confserver.media.feedback import SenderFeedback, downlink
from confserver.media.transport import apply_ice_config

from .conftest import join, until

RED, BLUE = (220, 30, 30), (30, 40, 220)


def _opus_fmtp(sdp: str) -> dict:
    audio = [m for m in SessionDescription.parse(sdp).media if m.kind == "audio"]
    opus = [c for c in audio[0].rtp.codecs if c.mimeType.lower() == "audio/opus"]
    return opus[0].parameters


async def test_the_answer_asks_the_publisher_for_opus_fec_and_dtx(relay, settings):
    settings.MEDIA_OPUS_MAXAVGBITRATE = 24000
    pc = RTCPeerConnection()  # offers like a browser: Opus without fmtp, VP8
    pc.addTransceiver(ColourTrack(RED), direction="sendrecv")
    pc.addTransceiver(ToneTrack(), direction="sendrecv")
    try:
        apply_ice_config(pc, IceConfig.loopback())
        await pc.setLocalDescription(await pc.createOffer())
        assert not _opus_fmtp(pc.localDescription.sdp).get("useinbandfec")
        answer = await relay.open_peer("P", pc.localDescription.sdp)
        assert "a=fmtp:96 minptime=10;useinbandfec=1;usedtx=1;maxaveragebitrate=24000" in answer, answer
        params = _opus_fmtp(answer)
        assert str(params["useinbandfec"]) == "1" and str(params["usedtx"]) == "1"
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))  # aiortc takes it
    finally:
        await pc.close()


def _drop_every(bot, nth: int, payload_type: int) -> list[int]:
    """A loss shim on the bot's receive path: every `nth` RTP packet of `payload_type` never arrives
    (SRTP leaves the header in clear). Retransmissions (RTX, their own payload type) pass."""
    dtls = bot.pc.getTransceivers()[0].receiver.transport
    original = dtls._handle_rtp_data
    seen = [0, 0]  # packets of the type, dropped

    async def lossy(data: bytes, arrival_time_ms: int) -> None:
        if data[1] & 0x7F == payload_type:
            seen[0] += 1
            if seen[0] % nth == 0:
                seen[1] += 1
                return
        await original(data, arrival_time_ms)

    dtls._handle_rtp_data = lossy
    return seen


async def test_stats_show_a_subscribers_remb_loss_and_nacks(relay, make_bot):
    a, s, clean = make_bot("A", RED), make_bot("S", BLUE), make_bot("C", BLUE)
    await join(relay, a, s, clean)
    relay.set_program("A", ["A"])
    relay.pin_tier("S", "full")  # 1 in 8 lost would otherwise send S to audio only (issue 15's tier loop): no REMB
    video_pt = [t for t in s.pc.getTransceivers() if t.kind == "video"][0]._codecs[0].payloadType
    await until(lambda: s.video[0].frames >= 5, 6, "S to decode A")
    dropped = _drop_every(s, 8, video_pt)

    await until(lambda: relay.stats()["S"].loss_pct > 0 and relay.stats()["S"].nack_per_s > 0, 8, "S's loss and NACKs")
    await until(lambda: relay.stats()["S"].remb_bps is not None, 5, "a REMB from S")
    stats = relay.stats()
    assert dropped[1] > 0
    assert 2 <= stats["S"].loss_pct <= 30, stats["S"]  # 1 in 8 of the video stream's packets
    assert stats["S"].remb_bps > 0  # aiortc's estimate, like Chromium's, starts low (~9 kbps) without probing
    assert stats["S"].jitter_ms is not None and stats["S"].jitter_ms >= 0
    # a clean link shows no loss and no NACK
    await until(lambda: relay.stats()["C"].remb_bps is not None, 5, "a REMB from C")
    assert relay.stats()["C"].loss_pct == 0 and relay.stats()["C"].nack_per_s == 0
    # the publisher receives nothing from the relay in this program, so it has no downlink feedback
    assert relay.stats()["A"].nack_per_s == 0


def test_downlink_keeps_fresh_feedback_only():
    video, audio = SenderFeedback(90000), SenderFeedback(48000)
    video.remb(800_000, now=100.0)
    video.report(26, 900, now=100.0)  # ~10 %, 10 ms
    audio.report(0, 480, now=101.0)  # 10 ms
    for _ in range(5):
        audio.nacked(2, now=101.0)
    link = downlink([video, audio], now=101.0)
    assert link.remb_bps == 800_000 and link.loss_pct == 10.16 and link.jitter_ms == 10.0
    assert link.nack_per_s == 10.0
    later = downlink([video, audio], now=103.5)  # the video report is 3.5 s old, the NACKs decayed
    assert later.remb_bps is None and later.loss_pct == 0 and later.nack_per_s < 1
    assert video.nack_per_s(now=103.5) == 0
