"""A publisher bot that also sends the shared low layer (issue 15, media/lowlayer.py), as the publishing pages
do (web/js/media.js): its camera (a layered clip, testing/layered.py) on the first video m-line and a smaller
clip on a sendonly video m-line after the others. Both are pre-encoded: no encoding while the test runs."""

import time

from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpsender import RTCRtpSender

from confserver.media.bot import Bot, Picture, VideoIn, top_colour
from confserver.media.taps import on_keyframe_request

from .layered import LayeredPacker, LayeredPublisher, LayeredTrack


class LowLayerPublisher(LayeredPublisher):
    """LayeredPublisher plus a low layer: `low_frames` (encode_clip at 320x180) at `low_fps`."""

    def __init__(self, name: str, frames, low_frames, *, fps: int = 30, low_fps: int = 15, **kwargs):
        super().__init__(name, frames, fps=fps, **kwargs)
        self.low_track = LayeredTrack(low_frames, low_fps)
        self.low_keyframe_requests = 0
        low = self.pc.addTransceiver(self.low_track, direction="sendonly")
        sender: RTCRtpSender = low.sender
        sender._RTCRtpSender__encoder = LayeredPacker(self.low_track)
        on_keyframe_request(sender, self._low_keyframe_requested)

    def _low_keyframe_requested(self) -> None:
        self.low_keyframe_requests += 1
        self.low_track.restart_at_keyframe()


class SizedBot(Bot):
    """A room bot that also notes each decoded picture's size: `sizes[slot]` = [(at, width, height, key)]."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sizes: list[list[tuple[float, int, int, bool]]] = [[] for _ in self.video]

    async def _read_video(self, track, into: VideoIn) -> None:
        sizes = self.sizes[next(i for i, v in enumerate(self.video) if v is into)]
        try:
            while True:
                frame = await track.recv()
                key = into.keyframes_at.pop(frame.pts, False)
                now = time.monotonic()
                into.pictures.append(Picture(now, top_colour(frame), key, frame.pts))
                sizes.append((now, frame.width, frame.height, key))
        except MediaStreamError:
            pass
