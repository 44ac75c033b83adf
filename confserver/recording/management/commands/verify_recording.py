"""manage.py verify_recording MEETING_ID: each segment intact / tampered / missing / chain broken."""
from django.core.management.base import BaseCommand, CommandError

from confserver.recording.verify import INTACT, LABELS, verify
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
            line = (f"Đoạn {s.index} [{s.path}] {s.started_at:%Y-%m-%d %H:%M:%S}Z, {s.bytes} byte: "
                    f"{LABELS[c.status]} / {c.status}")
            self.stdout.write(self.style.SUCCESS(line) if c.status == INTACT else self.style.ERROR(line))
        bad = [c for c in checks if c.status != INTACT]
        if bad:
            raise CommandError(f"{len(bad)}/{len(checks)} đoạn không nguyên vẹn / segments not intact")
        self.stdout.write(f"Tất cả {len(checks)} đoạn nguyên vẹn / all segments intact")
