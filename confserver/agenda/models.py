"""Agenda items, their documents (versioned PDFs with per-page text), publication
to the invited rooms, read receipts, and the synced view of a meeting."""
from django.conf import settings
from django.db import models

from confserver.rooms.models import AdminUnit, Meeting, Room


class AgendaItem(models.Model):
    """One point of a meeting's agenda (nội dung / chương trình họp), in `position` order."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="agenda_items")
    position = models.PositiveIntegerField("thứ tự")
    title = models.CharField("nội dung", max_length=300)
    presenter_unit = models.ForeignKey(AdminUnit, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                       verbose_name="đơn vị trình bày")
    planned_start = models.DateTimeField("giờ dự kiến", null=True, blank=True)
    planned_minutes = models.PositiveIntegerField("thời lượng (phút)", null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "nội dung họp"
        verbose_name_plural = "chương trình họp"
        ordering = ["meeting", "position", "id"]
        indexes = [models.Index(fields=["meeting", "position"], name="agenda_item_order")]

    def __str__(self):
        return self.title


class Document(models.Model):
    """A meeting document; its content lives in versions, the newest being current."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="documents")
    item = models.ForeignKey(AgendaItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="documents")
    title = models.CharField("tên tài liệu", max_length=300)
    # Confidential (tài liệu mật): never in a publication or webhook; only the chair
    # side and the invited rooms may open it (see access.py).
    confidential = models.BooleanField("mật", default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

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

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField("phiên bản")
    is_current = models.BooleanField(default=True)
    superseded_at = models.DateTimeField(null=True, blank=True)
    filename = models.CharField(max_length=255)
    # The file is stored once per content, under MEDIA_ROOT/agenda/pdf/ by this hash.
    sha256 = models.CharField(max_length=64, db_index=True)
    size = models.PositiveBigIntegerField()
    page_count = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)
    signature_status = models.CharField(max_length=16, choices=SignatureStatus.choices)
    signatures = models.JSONField("báo cáo chữ ký số", default=dict)

    class Meta:
        verbose_name = "phiên bản tài liệu"
        verbose_name_plural = "phiên bản tài liệu"
        ordering = ["document", "number"]
        constraints = [
            models.UniqueConstraint(fields=["document", "number"], name="docversion_unique_number"),
            models.UniqueConstraint(fields=["document"], condition=models.Q(is_current=True),
                                    name="docversion_one_current"),
        ]


class DocumentPage(models.Model):
    """Extracted text of one page, and its folded words for accent-insensitive search.

    On PostgreSQL the table also has `fts`, a generated tsvector of `folded` with a
    GIN index (migration 0002, not declared here); elsewhere search matches
    ' word ' in `folded` with LIKE.
    """

    version = models.ForeignKey(DocumentVersion, on_delete=models.CASCADE, related_name="pages")
    number = models.PositiveIntegerField()
    text = models.TextField(blank=True)
    folded = models.TextField(blank=True)

    class Meta:
        ordering = ["version", "number"]
        constraints = [models.UniqueConstraint(fields=["version", "number"], name="docpage_unique_number")]


class Publication(models.Model):
    """The agenda as sent ahead to the invited rooms (gửi trước tài liệu)."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="agenda_publications")
    number = models.PositiveIntegerField()
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    published_at = models.DateTimeField()
    # What was sent: items and non-confidential documents at that moment.
    snapshot = models.JSONField(default=dict)

    class Meta:
        ordering = ["meeting", "number"]
        constraints = [models.UniqueConstraint(fields=["meeting", "number"], name="publication_unique_number")]


class WebhookDelivery(models.Model):
    """An outgoing webhook call: tried in the background, retried until delivered
    or out of attempts (see webhook.py)."""

    publication = models.ForeignKey(Publication, null=True, on_delete=models.CASCADE, related_name="deliveries")
    url = models.URLField(max_length=500)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["id"]


class ReadReceipt(models.Model):
    """A room opened a document version (page images or the file)."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey(DocumentVersion, on_delete=models.CASCADE, related_name="receipts")
    first_opened_at = models.DateTimeField()
    last_opened_at = models.DateTimeField()
    count = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "room"], name="receipt_unique_room")]


class LiveState(models.Model):
    """Where a meeting is now: the current agenda item and the synced document page."""

    meeting = models.OneToOneField(Meeting, primary_key=True, on_delete=models.CASCADE, related_name="agenda_live")
    current_item = models.ForeignKey(AgendaItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    item_changed_at = models.DateTimeField(null=True, blank=True)
    version = models.ForeignKey(DocumentVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    page = models.PositiveIntegerField(null=True, blank=True)
    presenter = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    presenter_room = models.ForeignKey(Room, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    presented_at = models.DateTimeField(null=True, blank=True)
    # Bumped on every change, so a client can drop an event older than what it has.
    seq = models.PositiveIntegerField(default=0)
