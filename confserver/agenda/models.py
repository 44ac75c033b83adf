"""Agenda items, their documents (versioned PDFs with per-page text), publication
to the invited rooms, read receipts, and the synced view of a meeting."""

from django.conf import settings
from django.db import models

from confserver.rooms.models import AdminUnit, Meeting, Room


class AgendaItem(models.Model):
    """One point of a meeting's agenda (nội dung / chương trình họp), in `position` order."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="agenda_items", verbose_name="cuộc họp")
    position = models.PositiveIntegerField("thứ tự")
    title = models.CharField("nội dung", max_length=300)
    presenter_unit = models.ForeignKey(
        AdminUnit, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="đơn vị trình bày"
    )
    planned_start = models.DateTimeField("giờ dự kiến", null=True, blank=True)
    planned_minutes = models.PositiveIntegerField("thời lượng (phút)", null=True, blank=True)
    created_at = models.DateTimeField("tạo lúc", auto_now_add=True)
    updated_at = models.DateTimeField("sửa lúc", auto_now=True)

    class Meta:
        verbose_name = "nội dung họp"
        verbose_name_plural = "chương trình họp"
        ordering = ["meeting", "position", "id"]
        indexes = [models.Index(fields=["meeting", "position"], name="agenda_item_order")]

    def __str__(self):
        return self.title


class Document(models.Model):
    """A meeting document; its content lives in versions, the newest being current."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="documents", verbose_name="cuộc họp")
    item = models.ForeignKey(
        AgendaItem,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="documents",
        verbose_name="nội dung họp",
    )
    title = models.CharField("tên tài liệu", max_length=300)
    # Confidential (tài liệu mật): never in a publication or webhook; only the chair
    # side and the invited rooms may open it (see access.py).
    confidential = models.BooleanField("mật", default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name="người tạo"
    )
    created_at = models.DateTimeField("tạo lúc", auto_now_add=True)

    class Meta:
        verbose_name = "tài liệu"
        verbose_name_plural = "tài liệu"
        ordering = ["meeting", "id"]

    def __str__(self):
        return self.title


class SignatureStatus(models.TextChoices):
    UNSIGNED = "unsigned", "Không ký số"
    INTACT = "intact", "Chữ ký còn nguyên vẹn"
    BROKEN = "broken", "Nội dung đã bị sửa sau khi ký"
    ERROR = "error", "Không kiểm tra được"


class DocumentVersion(models.Model):
    """One uploaded PDF. A new upload of the same document supersedes the previous
    version, which stays readable."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="versions", verbose_name="tài liệu")
    number = models.PositiveIntegerField("phiên bản")
    is_current = models.BooleanField("bản hiện hành", default=True)
    superseded_at = models.DateTimeField("thay thế lúc", null=True, blank=True)
    filename = models.CharField("tên tệp", max_length=255)
    # The file is stored once per content, under MEDIA_ROOT/agenda/pdf/ by this hash.
    sha256 = models.CharField("mã băm SHA-256", max_length=64, db_index=True)
    size = models.PositiveBigIntegerField("dung lượng (byte)")
    page_count = models.PositiveIntegerField("số trang")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name="người tải lên"
    )
    uploaded_at = models.DateTimeField("tải lên lúc", auto_now_add=True)
    signature_status = models.CharField("chữ ký số", max_length=16, choices=SignatureStatus.choices)
    signatures = models.JSONField("báo cáo chữ ký số", default=dict)

    class Meta:
        verbose_name = "phiên bản tài liệu"
        verbose_name_plural = "phiên bản tài liệu"
        ordering = ["document", "number"]
        constraints = [
            models.UniqueConstraint(fields=["document", "number"], name="docversion_unique_number"),
            models.UniqueConstraint(
                fields=["document"], condition=models.Q(is_current=True), name="docversion_one_current"
            ),
        ]

    def __str__(self):
        return f"{self.document} — phiên bản {self.number}" if self.document_id else f"phiên bản {self.number}"


class DocumentPage(models.Model):
    """Extracted text of one page, and its folded words for accent-insensitive search.

    On PostgreSQL the table also has `fts`, a generated tsvector of `folded` with a
    GIN index (migration 0002, not declared here); elsewhere search matches
    ' word ' in `folded` with LIKE.
    """

    version = models.ForeignKey(
        DocumentVersion, on_delete=models.CASCADE, related_name="pages", verbose_name="phiên bản tài liệu"
    )
    number = models.PositiveIntegerField("trang")
    text = models.TextField("chữ trên trang", blank=True)
    folded = models.TextField("chữ bỏ dấu (để tìm)", blank=True)

    class Meta:
        verbose_name = "trang tài liệu"
        verbose_name_plural = "trang tài liệu"
        ordering = ["version", "number"]
        constraints = [models.UniqueConstraint(fields=["version", "number"], name="docpage_unique_number")]

    def __str__(self):
        return f"Trang {self.number}"


class Publication(models.Model):
    """The agenda as sent ahead to the invited rooms (gửi trước tài liệu)."""

    meeting = models.ForeignKey(
        Meeting, on_delete=models.CASCADE, related_name="agenda_publications", verbose_name="cuộc họp"
    )
    number = models.PositiveIntegerField("lần phát hành")
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name="người phát hành"
    )
    published_at = models.DateTimeField("phát hành lúc")
    # What was sent: items and non-confidential documents at that moment.
    snapshot = models.JSONField("nội dung đã gửi", default=dict)

    class Meta:
        verbose_name = "lần phát hành chương trình"
        verbose_name_plural = "các lần phát hành chương trình"
        ordering = ["meeting", "number"]
        constraints = [models.UniqueConstraint(fields=["meeting", "number"], name="publication_unique_number")]

    def __str__(self):
        return f"Lần phát hành {self.number} — {self.meeting}" if self.meeting_id else f"Lần phát hành {self.number}"


class WebhookDelivery(models.Model):
    """An outgoing webhook call: tried in the background, retried until delivered
    or out of attempts (see webhook.py)."""

    publication = models.ForeignKey(
        Publication, null=True, on_delete=models.CASCADE, related_name="deliveries", verbose_name="lần phát hành"
    )
    url = models.URLField("địa chỉ nhận", max_length=500)
    payload = models.JSONField("nội dung gửi")
    created_at = models.DateTimeField("tạo lúc", auto_now_add=True)
    attempts = models.PositiveIntegerField("số lần đã thử", default=0)
    next_attempt_at = models.DateTimeField("thử lại lúc", null=True, blank=True, db_index=True)
    delivered_at = models.DateTimeField("đã gửi được lúc", null=True, blank=True)
    last_status = models.PositiveIntegerField("mã trả lời gần nhất", null=True, blank=True)
    last_error = models.CharField("lỗi gần nhất", max_length=500, blank=True)

    class Meta:
        verbose_name = "lần gửi thông báo (webhook)"
        verbose_name_plural = "thông báo gửi đi (webhook)"
        ordering = ["id"]

    def __str__(self):
        return f"Thông báo số {self.pk} tới {self.url}"


class ReadReceipt(models.Model):
    """A room opened a document version (page images or the file)."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+", verbose_name="phòng")
    version = models.ForeignKey(
        DocumentVersion, on_delete=models.CASCADE, related_name="receipts", verbose_name="phiên bản tài liệu"
    )
    first_opened_at = models.DateTimeField("mở lần đầu lúc")
    last_opened_at = models.DateTimeField("mở lần cuối lúc")
    count = models.PositiveIntegerField("số lần mở", default=1)

    class Meta:
        verbose_name = "lượt đọc tài liệu"
        verbose_name_plural = "tài liệu đã đọc"
        constraints = [models.UniqueConstraint(fields=["version", "room"], name="receipt_unique_room")]

    def __str__(self):
        return f"{self.room} đã mở {self.version}" if self.room_id and self.version_id else "lượt đọc tài liệu"


class LiveState(models.Model):
    """Where a meeting is now: the current agenda item and the synced document page."""

    meeting = models.OneToOneField(
        Meeting, primary_key=True, on_delete=models.CASCADE, related_name="agenda_live", verbose_name="cuộc họp"
    )
    current_item = models.ForeignKey(
        AgendaItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name="nội dung đang họp"
    )
    item_changed_at = models.DateTimeField("chuyển nội dung lúc", null=True, blank=True)
    version = models.ForeignKey(
        DocumentVersion,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="tài liệu đang trình chiếu",
    )
    page = models.PositiveIntegerField("trang đang trình chiếu", null=True, blank=True)
    presenter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="người trình chiếu",
    )
    presenter_room = models.ForeignKey(
        Room, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name="phòng trình chiếu"
    )
    presented_at = models.DateTimeField("trình chiếu lúc", null=True, blank=True)
    # Bumped on every change, so a client can drop an event older than what it has.
    seq = models.PositiveIntegerField("số thứ tự thay đổi", default=0)

    class Meta:
        verbose_name = "tài liệu đang trình chiếu"
        verbose_name_plural = "tài liệu đang trình chiếu"

    def __str__(self):
        return f"Trình chiếu của {self.meeting}" if self.meeting_id else "tài liệu đang trình chiếu"
