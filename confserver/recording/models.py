"""One row per recorded segment: where it is, what it hashed to, and the hash of the one before."""

from django.db import models


class SegmentState(models.TextChoices):
    WRITING = "writing", "Đang ghi"
    CLOSED = "closed", "Đã đóng"
    RECOVERED = "recovered", "Đã khôi phục"
    PRUNED = "pruned", "Đã xoá theo thời hạn lưu trữ"  # file removed by prune_recordings; hashes kept


class Segment(models.Model):
    # PROTECT: a recording is part of the meeting's record; it is never dropped with the meeting row.
    meeting = models.ForeignKey(
        "rooms.Meeting", on_delete=models.PROTECT, related_name="segments", verbose_name="cuộc họp"
    )
    index = models.PositiveIntegerField("số thứ tự")
    started_at = models.DateTimeField("bắt đầu (UTC)")
    ended_at = models.DateTimeField("kết thúc (UTC)", null=True, blank=True)
    path = models.CharField("tệp (trong RECORDINGS_ROOT)", max_length=500)
    bytes = models.BigIntegerField("kích thước (byte)", default=0)
    sha256 = models.CharField("SHA-256", max_length=64, blank=True)
    previous_sha256 = models.CharField("SHA-256 của đoạn trước", max_length=64, blank=True)
    state = models.CharField("trạng thái", max_length=16, choices=SegmentState.choices, default=SegmentState.WRITING)
    pruned_at = models.DateTimeField("xoá tệp lúc (UTC)", null=True, blank=True)

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
    MINUTES = "minutes", "Tải biên bản (PDF)"


class RecordingAccess(models.Model):
    """Who looked at or downloaded which recording, when and from where (issue 10, item 6)."""

    # PROTECT: the log is evidence; an account or meeting with log rows is deactivated, not deleted.
    user = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+", verbose_name="tài khoản")
    at = models.DateTimeField("thời điểm (UTC)", auto_now_add=True, db_index=True)
    meeting = models.ForeignKey(
        "rooms.Meeting", on_delete=models.PROTECT, related_name="recording_accesses", verbose_name="cuộc họp"
    )
    segment = models.ForeignKey(
        Segment, null=True, blank=True, on_delete=models.PROTECT, related_name="accesses", verbose_name="đoạn ghi hình"
    )
    action = models.CharField("hành động", max_length=16, choices=AccessAction.choices)
    client_address = models.GenericIPAddressField("địa chỉ máy khách", null=True, blank=True)

    class Meta:
        verbose_name = "lượt truy cập bản ghi"
        verbose_name_plural = "nhật ký truy cập bản ghi"
        ordering = ["-at", "-id"]

    def __str__(self):
        what = f"{self.meeting_id}/{self.segment_id or '-'}"
        return f"{self.user_id} {self.get_action_display()} {what} {self.at:%Y-%m-%d %H:%M}"


class MinutesState(models.TextChoices):
    DRAFT = "draft", "Dự thảo"
    FINAL = "final", "Đã hoàn thành"


class Minutes(models.Model):
    """The minutes (biên bản) of a meeting, Form 1.9 of Decree 30/2020/NĐ-CP (issue 10, item 11).

    `content` is a list of sections in order: {"heading": str, "lines": [str, ...]}."""

    meeting = models.OneToOneField(
        "rooms.Meeting", on_delete=models.PROTECT, related_name="minutes", verbose_name="cuộc họp"
    )
    number = models.CharField("số biên bản", max_length=60, blank=True)
    place = models.CharField("địa điểm", max_length=300, blank=True)
    chair_name = models.CharField("chủ trì", max_length=200, blank=True)
    secretary_name = models.CharField("thư ký", max_length=200, blank=True)
    content = models.JSONField("nội dung", default=list, blank=True)
    conclusions = models.TextField("kết luận", blank=True)
    state = models.CharField("trạng thái", max_length=16, choices=MinutesState.choices, default=MinutesState.DRAFT)
    updated_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name="người sửa"
    )
    updated_at = models.DateTimeField("sửa lúc", auto_now=True)
    # Fixed when finalised (minutes.finalize): the recording's seal, the issued PDF (signed when a certificate
    # is configured; downloads serve these bytes) and the signing certificate's name (empty: unsigned).
    finalized_at = models.DateTimeField("hoàn thành lúc", null=True, blank=True)
    segment_count = models.PositiveIntegerField("số đoạn ghi hình", default=0)
    last_segment_sha256 = models.CharField("mã băm đoạn ghi hình cuối", max_length=64, blank=True)
    pdf = models.BinaryField("tệp PDF đã phát hành", null=True, blank=True)
    signer = models.CharField("ký số bởi", max_length=300, blank=True)

    class Meta:
        verbose_name = "biên bản"
        verbose_name_plural = "biên bản"

    def __str__(self):
        return f"{self.number or '-'} ({self.get_state_display()}): {self.meeting_id}"


class ExportState(models.TextChoices):
    QUEUED = "queued", "Đang chờ dựng"
    RUNNING = "running", "Đang dựng"
    READY = "ready", "Sẵn sàng"
    FAILED = "failed", "Lỗi"
    PRUNED = "pruned", "Đã xoá theo thời hạn lưu trữ"


class RecordingExport(models.Model):
    """The whole meeting as one WebM (one video, one mixed audio track), built after it ended (issue 10, item 9).

    `source_key` hashes the segments it was built from: when they change the file is rebuilt."""

    meeting = models.OneToOneField(
        "rooms.Meeting", on_delete=models.PROTECT, related_name="recording_export", verbose_name="cuộc họp"
    )
    state = models.CharField("trạng thái", max_length=16, choices=ExportState.choices, default=ExportState.QUEUED)
    progress = models.PositiveSmallIntegerField("tiến độ (%)", default=0)
    phase = models.CharField("đang làm", max_length=200, blank=True)
    path = models.CharField("tệp (trong RECORDINGS_ROOT)", max_length=500, blank=True)
    bytes = models.BigIntegerField("kích thước (byte)", default=0)
    sha256 = models.CharField("SHA-256", max_length=64, blank=True)
    source_key = models.CharField("khoá các đoạn nguồn", max_length=64, blank=True)
    duration_ms = models.BigIntegerField("thời lượng (ms)", default=0)
    segments = models.PositiveIntegerField("số đoạn đã ghép", default=0)
    skipped = models.JSONField("đoạn bị bỏ qua", default=list, blank=True)
    error = models.TextField("lỗi", blank=True)
    requested_at = models.DateTimeField("yêu cầu lúc", null=True, blank=True)
    started_at = models.DateTimeField("bắt đầu dựng", null=True, blank=True)
    finished_at = models.DateTimeField("xong lúc", null=True, blank=True)
    heartbeat_at = models.DateTimeField("còn chạy lúc", null=True, blank=True)
    worker_pid = models.IntegerField("tiến trình", null=True, blank=True)
    mix_s = models.FloatField("thời gian trộn âm (s)", null=True, blank=True)
    remux_s = models.FloatField("thời gian ghép (s)", null=True, blank=True)
    pruned_at = models.DateTimeField("xoá tệp lúc (UTC)", null=True, blank=True)

    class Meta:
        verbose_name = "tệp tải về của bản ghi"
        verbose_name_plural = "tệp tải về của bản ghi"

    def __str__(self):
        return f"{self.meeting_id}: {self.get_state_display()} {self.path or ''}"


class LegalHold(models.Model):
    """A legal hold: while one is active (not cleared) prune_recordings never removes the meeting's recording."""

    meeting = models.ForeignKey(
        "rooms.Meeting", on_delete=models.PROTECT, related_name="legal_holds", verbose_name="cuộc họp"
    )
    reason = models.TextField("lý do giữ bản ghi")
    set_by = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+", verbose_name="người đặt")
    set_at = models.DateTimeField("đặt lúc", auto_now_add=True)
    cleared_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="người gỡ"
    )
    cleared_at = models.DateTimeField("gỡ lúc", null=True, blank=True)
    clear_reason = models.TextField("lý do gỡ", blank=True)

    class Meta:
        verbose_name = "lệnh giữ bản ghi (legal hold)"
        verbose_name_plural = "lệnh giữ bản ghi (legal hold)"
        ordering = ["-set_at", "-id"]

    @property
    def active(self) -> bool:
        return self.cleared_at is None

    def __str__(self):
        return f"{self.meeting_id}: {'đang giữ' if self.active else 'đã gỡ'} ({self.set_at:%Y-%m-%d})"
