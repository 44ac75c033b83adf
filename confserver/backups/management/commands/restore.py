from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from confserver.backups import archive
from confserver.errors import DomainError


class Command(BaseCommand):
    help = (
        "Khôi phục một bản sao lưu của `manage.py backup`: kiểm tra manifest và mã băm mọi tệp, khôi phục cơ sở "
        "dữ liệu vào cơ sở dữ liệu trống (DATABASE_URL) và các tệp vào MEDIA_ROOT, RECORDINGS_ROOT."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", help="thư mục của một bản sao lưu (confserver-YYYYMMDD-HHMMSS)")
        parser.add_argument(
            "--force", action="store_true", help="xoá dữ liệu hiện có của cơ sở dữ liệu đích rồi khôi phục"
        )
        parser.add_argument("--check-only", action="store_true", help="chỉ kiểm tra bản sao lưu, không khôi phục")

    def handle(self, *args, **opts):
        folder = Path(opts["folder"])
        try:
            if opts["check_only"]:
                manifest = archive.check(folder)
                self.stdout.write(
                    f"Bản sao lưu nguyên vẹn: {len(manifest['files'])} tệp, tạo lúc {manifest['created_at']}."
                )
                return
            made = archive.restore(folder, force=opts["force"])
        except DomainError as e:
            raise CommandError(f"[{e.code}] {e.message}") from None
        self.stdout.write(
            f"Đã khôi phục {folder}: cơ sở dữ liệu và {made.files} tệp ({made.bytes:,} byte), "
            f"{made.seconds['total']} giây."
        )
        missing = archive.missing_migrations()
        if missing:
            self.stdout.write(f"Bản sao lưu cũ hơn phần mềm: hãy chạy `manage.py migrate` ({len(missing)} bước).")
