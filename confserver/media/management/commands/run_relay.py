import asyncio
import os
import signal
import socket

from channels.layers import get_channel_layer
from django.conf import settings
from django.core.management.base import BaseCommand

from confserver.media import local, registry, treelinks
from confserver.media.relayd import serve
from confserver.signaling import relayrestart
from confserver.tasks import cancel_and_wait


class Command(BaseCommand):
    help = (
        "Chạy một tiến trình relay truyền hình (run one media relay process). Start one per core, each with "
        "its own channel name, and list the names in MEDIA_RELAY_CHANNELS for the daphne workers."
    )

    def add_arguments(self, parser):
        parser.add_argument("--channel", default="relay-0", help="channel name this relay serves")
        parser.add_argument("--cpu", type=int, default=None, help="pin the process to this core")
        parser.add_argument(
            "--advertise",
            default=None,
            help="address other hosts reach this relay at (default RELAY_ADVERTISE, "
            "MEDIA_PUBLIC_ADDRESS, the first MEDIA_ICE_HOSTS, else the host name)",
        )
        parser.add_argument("--capacity", type=int, default=None, help="rooms at full load (default RELAY_CAPACITY)")
        parser.add_argument(
            "--metrics-port", type=int, default=None, help="serve Prometheus metrics on this port (default: off)"
        )
        parser.add_argument("--metrics-address", default="127.0.0.1", help="address the metrics port listens on")

    def handle(self, channel, cpu, advertise=None, capacity=None, **opts):
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})

        async def main():
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            ready = asyncio.Event()
            serving = asyncio.ensure_future(serve(get_channel_layer(), channel, stop, ready))
            # Said (and registered, below) only once calls reach us: tests and operators wait for this line.
            waiting = asyncio.ensure_future(ready.wait())
            await asyncio.wait({serving, waiting}, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            if ready.is_set():
                self.stdout.write(f"relay on channel {channel}")
                self.stdout.flush()
                relayrestart.announce_soon(channel)  # its meetings' rooms reconnect their media now (MEDIA_CASCADE off)
            # Recordings the live state says run on this relay died with the process before it: resumed here
            # (started on this process's relays directly) and told, next to serving.
            resume = asyncio.ensure_future(recording_live.relay_started(channel, start=local.start_recording))
            # The cascade's registry (issue 11): registered while serving, the beat stopped on a clean exit.
            beating = asyncio.ensure_future(heartbeat(stop)) if settings.REDIS_URL else None
            # Its meetings' parent links follow their plans (issue 11: treelinks), re-plans heard on `relay-plan`.
            treelinks.start(channel)
            following = None
            if settings.REDIS_URL:
                following = asyncio.ensure_future(treelinks.follow(get_channel_layer(), stop))
            try:
                await serving
            finally:
                await cancel_and_wait([resume, following])  # again until they end (confserver/tasks.py)
                if beating is not None:
                    stop.set()
                    await asyncio.gather(beating, return_exceptions=True)

        async def heartbeat(stop):
            reg = registry.Registry(registry.connect())
            try:
                await registry.keep_registered(
                    reg,
                    channel,
                    channel=channel,
                    address=address,
                    capacity=capacity or settings.RELAY_CAPACITY,
                    load=load_now,
                    stop=stop,
                )
            finally:
                await reg.r.aclose()

        address = (
            advertise
            or settings.RELAY_ADVERTISE
            or settings.MEDIA_PUBLIC_ADDRESS
            or (settings.MEDIA_ICE_HOSTS[0] if settings.MEDIA_ICE_HOSTS else socket.gethostname())
        )

        from confserver.recording import live as recording_live  # imported now: not on the loop, before serving
        from confserver.runtime import tune_gc

        tune_gc()
        # Segments a killed relay left `writing` (this relay's meetings only), before any recording starts here.
        local.recover_segments(channel)
        if opts.get("metrics_port"):  # issue 13, item 5: this process's relays, on a port of its own
            from confserver.observability.endpoint import serve as serve_metrics

            serve_metrics(opts["metrics_port"], opts["metrics_address"])
        asyncio.run(main())


def load_now() -> tuple[int, int]:
    """(peers, meetings) on this process's relays, for the heartbeat."""
    relays = list(local._relays.values())
    return sum(len(getattr(r, "_peers", ())) for r in relays), len(relays)
