import asyncio
import signal

from channels.layers import get_channel_layer
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from confserver.media import monitor, registry


class Command(BaseCommand):
    help = (
        "Theo dõi các relay truyền hình (watch the media relays, issue 11): one monitor acts at a time (a lease "
        "in Redis); start two for failover. --drain/--undrain RELAY sets a relay's state and exits."
    )

    def add_arguments(self, parser):
        parser.add_argument("--drain", metavar="RELAY", help="move the relay's rooms off it; it takes no new rooms")
        parser.add_argument("--undrain", metavar="RELAY", help="the relay takes rooms again")

    def handle(self, drain=None, undrain=None, **opts):
        if not settings.REDIS_URL:
            raise CommandError("Cần REDIS_URL: sổ đăng ký relay nằm trong Redis.")

        async def set_state(relay_id, on):
            r = registry.connect()
            try:
                return await monitor.drain(registry.Registry(r), relay_id, on)
            finally:
                await r.aclose()

        if drain or undrain:
            if not asyncio.run(set_state(drain or undrain, bool(drain))):
                raise CommandError(f"Không có relay '{drain or undrain}' trong sổ đăng ký.")
            self.stdout.write(f"relay {drain or undrain}: {'draining' if drain else 'live'}")
            return

        async def main():
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            r = registry.connect()
            try:
                await monitor.Monitor(r, get_channel_layer()).run(stop)
            finally:
                await r.aclose()

        self.stdout.write("relay monitor running")
        asyncio.run(main())
