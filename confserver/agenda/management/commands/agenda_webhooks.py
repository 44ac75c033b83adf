"""Retry agenda webhook deliveries that failed (run from cron, or with --loop)."""

import time

from django.core.management.base import BaseCommand

from confserver.agenda import webhook


class Command(BaseCommand):
    help = "Gửi lại các webhook chương trình họp chưa gửi được."

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="keep running, checking every --interval seconds")
        parser.add_argument("--interval", type=float, default=30.0)

    def handle(self, *args, loop=False, interval=30.0, **opts):
        while True:
            sent = webhook.deliver_due()
            if sent:
                self.stdout.write(f"delivered {sent}")
            if not loop:
                return
            time.sleep(interval)
