"""One row per recorded segment: where it is, what it hashed to, and the hash of the one before."""
from django.db import models


class SegmentState(models.TextChoices):
    WRITING = "writing", "Đang ghi"
    CLOSED = "closed", "Đã đóng"
    RECOVERED = "recovered", "Đã khôi phục"


class Segment(models.Model):
    # PROTECT: a recording is part of the meeting's record; it is never dropped with the meeting row.
    meeting = models.ForeignKey("rooms.Meeting", on_delete=models.PROTECT, related_name="segments",
                                verbose_name="cuộc họp")
    index = models.PositiveIntegerField("số thứ tự")
    started_at = models.DateTimeField("bắt đầu (UTC)")
    ended_at = models.DateTimeField("kết thúc (UTC)", null=True, blank=True)
    path = models.CharField("tệp (trong RECORDINGS_ROOT)", max_length=500)
    bytes = models.BigIntegerField("kích thước (byte)", default=0)
    sha256 = models.CharField("SHA-256", max_length=64, blank=True)
    previous_sha256 = models.CharField("SHA-256 của đoạn trước", max_length=64, blank=True)
    state = models.CharField("trạng thái", max_length=16, choices=SegmentState.choices, default=SegmentState.WRITING)

    class Meta:
        verbose_name = "đoạn ghi hình"
        verbose_name_plural = "đoạn ghi hình"
        ordering = ["meeting", "index"]
        constraints = [models.UniqueConstraint(fields=["meeting", "index"], name="recording_segment_unique_index")]

    def __str__(self):
        return f"{self.meeting_id}/{self.index}: {self.path} ({self.get_state_display()})"
