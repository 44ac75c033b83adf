"""Issue 15, audio first: the loss that rooms report on a publisher's audio goes back to the publisher, in the
relay's receiver reports on that audio (media/feedback.py `echoed_loss`): a high percentile of the rooms, bounded,
held and decaying; video is never echoed. Plain data here; the Chromium publisher's side is
tests/e2e/test_loss_echo_browser.py."""

from types import SimpleNamespace

from confserver.media.feedback import (
    ECHO_MAX,
    ECHO_TAU_S,
    LossEcho,
    SenderFeedback,
    echoed_loss,
    percentile,
    room_loss,
)


def _room(audio_lost: int | None = None, video_lost: int | None = None, at: float = 100.0):
    """A room's peer with one audio and one video slot whose latest reports said `*_lost` (1/256ths)."""
    peer = SimpleNamespace(slots={"audio": [], "video": []})
    for kind, lost in (("audio", audio_lost), ("video", video_lost)):
        fb = SenderFeedback(48000 if kind == "audio" else 90000)
        if lost is not None:
            fb.report(lost, 0, now=at)
        peer.slots[kind].append(SimpleNamespace(kind=kind, peer=peer, sender=SimpleNamespace(feedback=fb)))
    return peer


def _feed(kind: str, peers) -> SimpleNamespace:
    return SimpleNamespace(kind=kind, slots=[p.slots[kind][0] for p in peers])


def test_the_worst_room_of_a_few_is_echoed_and_video_never():
    rooms = [_room(0), _room(26), _room(5)]  # 0 %, ~10 %, ~2 %
    assert echoed_loss(_feed("audio", rooms), now=101.0) == 26
    assert echoed_loss(_feed("video", [_room(video_lost=128)]), now=101.0) == 0


def test_a_room_counts_its_worst_stream_and_stale_reports_do_not_count():
    # audio reports come every ~5 s from Chromium: one 10 s old still counts; a video one 4 s old does not
    assert room_loss([("audio", _room(13, at=90.0).slots["audio"][0].sender.feedback)], now=100.0) == 13 / 256
    assert room_loss([("video", _room(video_lost=64, at=96.0).slots["video"][0].sender.feedback)], now=100.0) is None
    peer = _room(audio_lost=3, video_lost=40)
    assert echoed_loss(_feed("audio", [peer]), now=100.5) == 40  # one link: the video's loss is the audio's too


def test_one_broken_room_in_ten_does_not_bend_everyones_sound():
    rooms = [_room(200)] + [_room(5) for _ in range(9)]
    assert percentile([0.78] + [0.02] * 9) == 0.02
    assert echoed_loss(_feed("audio", rooms), now=101.0) == 5


def test_bounded_held_and_decaying():
    echo = LossEcho()
    assert echo.update(0.9, now=0.0) == ECHO_MAX  # bounded
    held = echo.update(0.0, now=ECHO_TAU_S)  # the rooms report nothing lost: it falls, not at once
    assert 0.3 * ECHO_MAX < held < 0.4 * ECHO_MAX
    assert echo.update(0.0, now=ECHO_TAU_S * 8) == 0.0  # and reaches nothing
    assert echo.update(0.05, now=ECHO_TAU_S * 8 + 1) == 0.05  # a new loss shows at once
