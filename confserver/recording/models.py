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


class AccessAction(models.TextChoices):
    VIEW = "view", "Xem"
    DOWNLOAD = "download", "Tải về"


class RecordingAccess(models.Model):
    """Who looked at or downloaded which recording, when and from where (issue 10, item 6)."""

    # PROTECT: the log is evidence; an account or meeting with log rows is deactivated, not deleted.
    user = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+", verbose_name="tài khoản")
    at = models.DateTimeField("thời điểm (UTC)", auto_now_add=True, db_index=True)
    meeting = models.ForeignKey("rooms.Meeting", on_delete=models.PROTECT, related_name="recording_accesses",
                                verbose_name="cuộc họp")
    segment = models.ForeignKey(Segment, null=True, blank=True, on_delete=models.PROTECT, related_name="accesses",
                                verbose_name="đoạn ghi hình")
    action = models.CharField("hành động", max_length=16, choices=AccessAction.choices)
    client_address = models.GenericIPAddressField("địa chỉ máy khách", null=True, blank=True)

    class Meta:
        verbose_name = "lượt truy cập bản ghi"
        verbose_name_plural = "nhật ký truy cập bản ghi"
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.user_id} {self.get_action_display()} {self.meeting_id}/{self.segment_id or '-'} {self.at:%Y-%m-%d %H:%M}"


class MinutesState(models.TextChoices):
    DRAFT = "draft", "Dự thảo"
    FINAL = "final", "Đã hoàn thành"


class Minutes(models.Model):
    """The minutes (biên bản) of a meeting, Form 1.9 of Decree 30/2020/NĐ-CP (issue 10, item 11).

    `content` is a list of sections in order: {"heading": str, "lines": [str, ...]}."""

    meeting = models.OneToOneField("rooms.Meeting", on_delete=models.PROTECT, related_name="minutes",
                                   verbose_name="cuộc họp")
    number = models.CharField("số biên bản", max_length=60, blank=True)
    place = models.CharField("địa điểm", max_length=300, blank=True)
    chair_name = models.CharField("chủ trì", max_length=200, blank=True)
    secretary_name = models.CharField("thư ký", max_length=200, blank=True)
    content = models.JSONField("nội dung", default=list, blank=True)
    conclusions = models.TextField("kết luận", blank=True)
    state = models.CharField("trạng thái", max_length=16, choices=MinutesState.choices, default=MinutesState.DRAFT)
    updated_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name="người sửa")
    updated_at = models.DateTimeField("sửa lúc", auto_now=True)

    class Meta:
        verbose_name = "biên bản"
        verbose_name_plural = "biên bản"

    def __str__(self):
        return f"{self.number or '-'} ({self.get_state_display()}): {self.meeting_id}"
