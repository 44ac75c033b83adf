"""manage.py verify_recording MEETING_ID: each segment intact / tampered / missing / chain broken / pruned,
the one-file download (finalize_recording) against its recorded SHA-256, and the final minutes' seal (the
segment count and last segment hash fixed in them) against the recording."""

from django.core.management.base import BaseCommand, CommandError

from confserver.recording.verify import (
    ACCEPTABLE,
    INTACT,
    LABELS,
    MINUTES_MISMATCH,
    MISSING,
    NONE,
    TAMPERED,
    verify,
    verify_export,
    verify_minutes,
)
from confserver.rooms.models import Meeting


class Command(BaseCommand):
    help = "Kiểm tra tính toàn vẹn bản ghi hình của một cuộc họp / Verify a meeting's recording."

    def add_arguments(self, parser):
        parser.add_argument("meeting_id", type=int)

    def handle(self, meeting_id, **options):
        if not Meeting.objects.filter(id=meeting_id).exists():
            raise CommandError(f"Không có cuộc họp {meeting_id} / no such meeting")
        checks = verify(meeting_id)
        if not checks:
            raise CommandError(f"Cuộc họp {meeting_id} chưa có đoạn ghi hình nào / no recorded segments")
        for c in checks:
            s = c.segment
            line = (
                f"Đoạn {s.index} [{s.path}] {s.started_at:%Y-%m-%d %H:%M:%S}Z, {s.bytes} byte: "
                f"{LABELS[c.status]} / {c.status}"
            )
            self.stdout.write(self.style.SUCCESS(line) if c.status in ACCEPTABLE else self.style.ERROR(line))
        e = verify_export(meeting_id)
        if e.status != NONE:
            line = f"Tệp tải về [{e.export.path}] {e.export.bytes} byte: {LABELS[e.status]} / {e.status}"
            bad_export = e.status in (TAMPERED, MISSING)
            self.stdout.write(self.style.ERROR(line) if bad_export else self.style.SUCCESS(line))
        else:
            bad_export = False
            self.stdout.write(f"Tệp tải về: {LABELS[NONE]} / {NONE}")
        mc = verify_minutes(meeting_id)
        bad_minutes = mc.status == MINUTES_MISMATCH
        if mc.status != NONE:
            m = mc.minutes
            line = (
                f"Biên bản số {m.number}: {LABELS[mc.status]} / {mc.status} (chốt {m.segment_count} đoạn, "
                f"mã băm đoạn cuối {m.last_segment_sha256 or '-'})"
            )
            self.stdout.write(self.style.ERROR(line) if bad_minutes else self.style.SUCCESS(line))
        bad = [c for c in checks if c.status not in ACCEPTABLE]
        if bad or bad_export or bad_minutes:
            parts = [f"{len(bad)}/{len(checks)} đoạn không nguyên vẹn / segments not intact"] if bad else []
            if bad_export:
                parts.append(f"tệp tải về {LABELS[e.status]} / download {e.status}")
            if bad_minutes:
                parts.append(f"bản ghi {LABELS[MINUTES_MISMATCH]} / {MINUTES_MISMATCH}")
            raise CommandError("; ".join(parts))
        pruned = sum(1 for c in checks if c.status != INTACT)
        if pruned == len(checks):
            self.stdout.write(
                f"Tất cả {len(checks)} đoạn đã xoá theo thời hạn lưu trữ; mã băm và chuỗi còn nguyên "
                f"/ all segments pruned, hashes and chain intact"
            )
        elif pruned:
            self.stdout.write(
                f"{len(checks) - pruned} đoạn nguyên vẹn, {pruned} đoạn đã xoá theo thời hạn lưu trữ / intact, pruned"
            )
        else:
            self.stdout.write(f"Tất cả {len(checks)} đoạn nguyên vẹn / all segments intact")
