"""The relay as stock aiortc makes it, for comparison in bench/relay.py.

The publisher's receiver decodes; aiortc's MediaRelay fans the decoded frames
out; every subscriber's sender encodes its own copy (one encoder each).
"""

from aiortc import RTCSessionDescription
from aiortc.contrib.media import MediaRelay

from confserver.media.config import IceConfig
from confserver.media.transport import apply_ice_config, new_peer_connection

WANTED = {"video": "video/vp8", "audio": "audio/opus"}


class NaiveRelay:
    def __init__(self, ice: IceConfig, publisher: str):
        self.ice = ice
        self.publisher = publisher
        self.pcs = {}
        self.fan_out = MediaRelay()
        self.sources = {}  # kind -> the publisher's decoded track

    async def open_peer(self, peer_id: str, offer_sdp: str) -> str:
        pc = new_peer_connection(self.ice, max_bundle=True)
        self.pcs[peer_id] = pc
        if peer_id == self.publisher:
            pc.on("track", lambda track: self.sources.setdefault(track.kind, track))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        for transceiver in pc.getTransceivers():
            codecs = [c for c in transceiver._codecs if c.mimeType.lower() == WANTED[transceiver.kind]]
            transceiver._codecs = codecs[:1]
            transceiver.direction = "sendrecv"
            source = self.sources.get(transceiver.kind)
            if peer_id != self.publisher and source is not None:
                transceiver.sender.replaceTrack(self.fan_out.subscribe(source))
        apply_ice_config(pc, self.ice)
        await pc.setLocalDescription(await pc.createAnswer())
        return pc.localDescription.sdp

    def set_program(self, video_source, audio_sources) -> None:
        pass  # the publisher is the program

    def stats(self) -> dict:
        return {}

    async def close(self) -> None:
        for pc in self.pcs.values():
            await pc.close()
