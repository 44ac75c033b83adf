from django.core.management.base import BaseCommand

from confserver.audit import retention


class Command(BaseCommand):
    help = "Xoá các sự kiện kiểm toán cũ hơn AUDIT_RETENTION_DAYS ngày (mặc định 365)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Chỉ đếm, không xoá.")

    def handle(self, *args, dry_run=False, **options):
        n = retention.prune(dry_run=dry_run)
        verb = "Sẽ xoá" if dry_run else "Đã xoá"
        self.stdout.write(f"{verb} {n} sự kiện kiểm toán trước {retention.cutoff():%Y-%m-%d %H:%M} (UTC).")
