"""Delegates of a meeting, their private notes and read receipts, and the meeting's quorum rule."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Seat(models.TextChoices):
    HALL = "hall", "Tại hội trường"
    ROOM = "room", "Tại điểm cầu"


class CheckedInBy(models.TextChoices):
    NONE = "", "Chưa điểm danh"
    QR = "qr", "Quét mã QR tại hội trường"
    SECRETARY = "secretary", "Thư ký đánh dấu"
    CLERK = "clerk", "Cán bộ điểm cầu đánh dấu"


class Delegate(models.Model):
    """A person invited to a meeting: in the hall with the chair, or attached to a remote room."""

    meeting = models.ForeignKey(
        "rooms.Meeting", on_delete=models.CASCADE, related_name="delegates", verbose_name="cuộc họp"
    )
    name = models.CharField("họ và tên", max_length=200)
    position = models.CharField("chức vụ", max_length=200, blank=True)
    unit = models.CharField("đơn vị công tác", max_length=300, blank=True)
    phone = models.CharField("số điện thoại", max_length=32, blank=True)
    email = models.EmailField("thư điện tử", max_length=254, blank=True)
    seat = models.CharField("chỗ ngồi", max_length=8, choices=Seat.choices, default=Seat.HALL)
    room = models.ForeignKey(
        "rooms.Room", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="điểm cầu"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="delegate_seats",
        verbose_name="tài khoản",
    )
    checked_in_at = models.DateTimeField("điểm danh lúc", null=True, blank=True)
    checked_in_by = models.CharField(
        "điểm danh bằng", max_length=16, choices=CheckedInBy.choices, blank=True, default=""
    )
    # Raised to revoke every personal link handed out so far (tokens.py signs it in).
    token_version = models.PositiveIntegerField("phiên bản liên kết", default=1)
    created_at = models.DateTimeField("tạo lúc", auto_now_add=True)

    class Meta:
        verbose_name = "đại biểu"
        verbose_name_plural = "đại biểu"
        ordering = ["meeting_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["meeting", "phone"], condition=~Q(phone=""), name="delegate_unique_phone"),
            models.UniqueConstraint(fields=["meeting", "email"], condition=~Q(email=""), name="delegate_unique_email"),
            models.CheckConstraint(
                condition=Q(seat="hall", room__isnull=True) | Q(seat="room", room__isnull=False),
                name="delegate_seat_room",
            ),
        ]

    def __str__(self):
        return self.name or "đại biểu"


class Note(models.Model):
    """A delegate's private note on one page of a document version: read by its author alone, kept after
    the meeting."""

    delegate = models.ForeignKey(Delegate, on_delete=models.CASCADE, related_name="notes", verbose_name="đại biểu")
    version = models.ForeignKey(
        "agenda.DocumentVersion", on_delete=models.CASCADE, related_name="+", verbose_name="phiên bản tài liệu"
    )
    page = models.PositiveIntegerField("trang")
    text = models.TextField("ghi chú", max_length=4000)
    updated_at = models.DateTimeField("sửa lúc", auto_now=True)

    class Meta:
        verbose_name = "ghi chú riêng"
        verbose_name_plural = "ghi chú riêng"
        constraints = [models.UniqueConstraint(fields=["delegate", "version", "page"], name="note_unique_page")]

    def __str__(self):
        return f"Ghi chú trang {self.page}" if self.page else "ghi chú riêng"


class Receipt(models.Model):
    """A delegate opened a document version: first and last time, how many openings."""

    delegate = models.ForeignKey(Delegate, on_delete=models.CASCADE, related_name="receipts", verbose_name="đại biểu")
    version = models.ForeignKey(
        "agenda.DocumentVersion", on_delete=models.CASCADE, related_name="+", verbose_name="phiên bản tài liệu"
    )
    first_opened_at = models.DateTimeField("mở lần đầu lúc")
    last_opened_at = models.DateTimeField("mở lần cuối lúc")
    count = models.PositiveIntegerField("số lần mở", default=1)

    class Meta:
        verbose_name = "đại biểu đã đọc tài liệu"
        verbose_name_plural = "đại biểu đã đọc tài liệu"
        constraints = [models.UniqueConstraint(fields=["delegate", "version"], name="delegate_receipt_unique")]

    def __str__(self):
        return f"{self.delegate} đã mở tài liệu" if self.delegate_id else "đại biểu đã đọc tài liệu"


class QuorumRule(models.Model):
    """The meeting's quorum: present delegates must be MORE than numerator/denominator of all delegates
    (default: more than half)."""

    meeting = models.OneToOneField(
        "rooms.Meeting", primary_key=True, on_delete=models.CASCADE, related_name="quorum_rule", verbose_name="cuộc họp"
    )
    numerator = models.PositiveSmallIntegerField("tử số", default=1)
    denominator = models.PositiveSmallIntegerField("mẫu số", default=2)

    class Meta:
        verbose_name = "điều kiện đủ số đại biểu"
        verbose_name_plural = "điều kiện đủ số đại biểu"

    def __str__(self):
        return f"Quá {self.numerator}/{self.denominator} tổng số đại biểu"
