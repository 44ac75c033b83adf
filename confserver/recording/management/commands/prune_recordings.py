"""manage.py prune_recordings [--dry-run]: remove the recordings of meetings ended more than
RECORDING_RETENTION_DAYS ago (0: keep forever), never one under a legal hold; say what was removed."""

from django.core.management.base import BaseCommand

from confserver.recording import retention


class Command(BaseCommand):
    help = (
        "Xoá bản ghi hình quá thời hạn lưu trữ (RECORDING_RETENTION_DAYS), trừ cuộc họp đang bị giữ "
        "(legal hold) / Prune recordings past the retention, never one under a legal hold."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Chỉ liệt kê, không xoá / list what would be removed, remove nothing"
        )

    def handle(self, dry_run=False, **options):
        days = retention.retention_days()
        if not days:
            self.stdout.write(
                "RECORDING_RETENTION_DAYS = 0: bản ghi được giữ vĩnh viễn, không xoá gì / kept forever, nothing removed"
            )
            return
        results = retention.prune(dry_run=dry_run)
        verb = "sẽ xoá" if dry_run else "đã xoá"
        removed = held = 0
        total = 0
        for r in results:
            m = r.meeting
            head = f"Cuộc họp {m.id} «{m.title}» (kết thúc {m.ended_at:%Y-%m-%d})"
            if r.hold is not None:
                held += 1
                self.stdout.write(
                    self.style.WARNING(
                        f"{head}: giữ lại — lệnh giữ bản ghi của {r.hold.set_by} từ {r.hold.set_at:%Y-%m-%d}: "
                        f"{r.hold.reason} / kept, legal hold"
                    )
                )
                continue
            removed += 1
            total += r.bytes
            self.stdout.write(
                f"{head}: {verb} {len(r.files)} tệp, {r.bytes} byte, {r.segments} đoạn "
                f"/ {'would remove' if dry_run else 'removed'}"
            )
            for f in r.files:
                self.stdout.write(f"  {f}")
            for f in r.failed:
                self.stdout.write(self.style.ERROR(f"  không xoá được / could not remove: {f}"))
        mode = " (chạy thử, không xoá gì / dry run)" if dry_run else ""
        self.stdout.write(
            f"Thời hạn lưu trữ {days} ngày: {verb} bản ghi của {removed} cuộc họp ({total} byte), "
            f"giữ lại {held} cuộc họp theo lệnh giữ{mode}"
        )
