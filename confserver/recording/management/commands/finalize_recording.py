"""manage.py finalize_recording MEETING_ID: mix and join a meeting's segments into its one-file download.

Started by the relay when a meeting ends (finalize.start_in_background, under `nice`), by a download of a file
not built yet, or by hand. Idempotent: an up-to-date file is kept; another builder at work is left alone."""

from django.core.management.base import BaseCommand, CommandError

from confserver.recording import finalize
from confserver.recording.models import ExportState, Segment
from confserver.rooms.models import Meeting


class Command(BaseCommand):
    help = "Dựng tệp tải về (một tệp WebM) của bản ghi một cuộc họp / Build a meeting's one-file recording."

    def add_arguments(self, parser):
        parser.add_argument("meeting_id", type=int)

    def handle(self, meeting_id, **options):
        if not Meeting.objects.filter(id=meeting_id).exists():
            raise CommandError(f"Không có cuộc họp {meeting_id} / no such meeting")
        if not Segment.objects.filter(meeting_id=meeting_id).exists():
            self.stdout.write(f"Cuộc họp {meeting_id} không có bản ghi hình / nothing recorded")
            return
        row = finalize.run(meeting_id)
        if row is None:
            self.stdout.write(f"Cuộc họp {meeting_id}: một tiến trình khác đang dựng tệp / another builder is at work")
            return
        if row.state == ExportState.PRUNED:
            self.stdout.write(f"Cuộc họp {meeting_id}: bản ghi đã xoá theo thời hạn lưu trữ / pruned")
            return
        if row.state != ExportState.READY:
            raise CommandError(f"Cuộc họp {meeting_id}: {row.error or row.get_state_display()}")
        skipped = "".join(f"; bỏ qua đoạn {s['index']}: {s['label']}" for s in row.skipped)
        self.stdout.write(
            f"Cuộc họp {meeting_id}: {row.path}, {row.bytes} byte, {row.duration_ms / 1000:.1f} s, "
            f"{row.segments} đoạn, SHA-256 {row.sha256}{skipped} "
            f"(trộn âm {row.mix_s or 0:.2f} s, ghép {row.remux_s or 0:.2f} s)"
        )
