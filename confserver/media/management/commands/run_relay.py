import asyncio
import os
import signal

from channels.layers import get_channel_layer
from django.core.management.base import BaseCommand

from confserver.media import local
from confserver.media.relayd import serve


class Command(BaseCommand):
    help = ("Chạy một tiến trình relay truyền hình (run one media relay process). Start one per core, each with "
            "its own channel name, and list the names in MEDIA_RELAY_CHANNELS for the daphne workers.")

    def add_arguments(self, parser):
        parser.add_argument("--channel", default="relay-0", help="channel name this relay serves")
        parser.add_argument("--cpu", type=int, default=None, help="pin the process to this core")

    def handle(self, channel, cpu, **opts):
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})

        async def main():
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            serving = asyncio.ensure_future(serve(get_channel_layer(), channel, stop))
            # Recordings the live state says run on this relay died with the process before it: resumed here
            # (started on this process's relays directly) and told, next to serving.
            resume = asyncio.ensure_future(recording_live.relay_started(channel, start=local.start_recording))
            try:
                await serving
            finally:
                resume.cancel()
                await asyncio.gather(resume, return_exceptions=True)

        from confserver.recording import live as recording_live  # imported now: not on the loop, before serving
        from confserver.runtime import tune_gc

        tune_gc()
        # Segments a killed relay left `writing` (this relay's meetings only), before any recording starts here.
        local.recover_segments(channel)
        self.stdout.write(f"relay on channel {channel}")
        asyncio.run(main())
