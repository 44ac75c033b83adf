from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from confserver.backups import archive
from confserver.errors import DomainError


class Command(BaseCommand):
    help = (
        "Sao lưu cơ sở dữ liệu (pg_dump, hoặc bản sao SQLite) và các tệp đã lưu (tài liệu, bản ghi hình) vào "
        "một thư mục mới có ngày giờ trong DIR, kèm manifest.json (SHA-256 từng tệp)."
    )

    def add_arguments(self, parser):
        parser.add_argument("dir", help="thư mục chứa các bản sao lưu (tạo nếu chưa có)")

    def handle(self, *args, **opts):
        dest = Path(opts["dir"])
        dest.mkdir(parents=True, exist_ok=True)
        try:
            made = archive.backup(dest)
        except DomainError as e:
            raise CommandError(f"[{e.code}] {e.message}") from None
        self.stdout.write(
            f"Đã sao lưu vào {made.folder}: {made.files} tệp, {made.bytes:,} byte, "
            f"{made.seconds['total']} giây (cơ sở dữ liệu {made.seconds['database']} giây)."
        )
        self.stdout.write(str(made.folder))
