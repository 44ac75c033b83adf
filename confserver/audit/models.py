"""One row per audited action. No foreign keys: a row outlives the account, meeting or object it names, and
nothing deleting those may touch it (the table refuses UPDATE and DELETE: see the migration 0002)."""

from django.db import models
from django.utils import timezone


class AppendOnly(Exception):
    """Raised when application code tries to change or remove an audit row."""


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnly("Nhật ký kiểm toán chỉ được ghi thêm, không được sửa.")

    def delete(self):
        raise AppendOnly("Nhật ký kiểm toán chỉ được ghi thêm, không được xoá (dùng manage.py prune_audit).")


class AuditEvent(models.Model):
    at = models.DateTimeField("thời điểm", default=timezone.now, db_index=True)
    user_id = models.BigIntegerField("mã tài khoản", null=True, blank=True, db_index=True)
    username = models.CharField("tài khoản", max_length=150, blank=True)
    role = models.CharField("vai trò", max_length=16, blank=True)
    action = models.CharField("hành động", max_length=64, db_index=True)
    object_type = models.CharField("loại đối tượng", max_length=64, blank=True)
    object_id = models.CharField("mã đối tượng", max_length=64, blank=True)
    object_repr = models.CharField("đối tượng", max_length=200, blank=True)
    meeting_id = models.BigIntegerField("cuộc họp", null=True, blank=True, db_index=True)
    ip = models.GenericIPAddressField("địa chỉ IP", null=True, blank=True)
    user_agent = models.CharField("trình duyệt", max_length=300, blank=True)
    data = models.JSONField("chi tiết", default=dict, blank=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        verbose_name = "sự kiện kiểm toán"
        verbose_name_plural = "nhật ký kiểm toán"
        ordering = ["-at", "-id"]

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnly("Nhật ký kiểm toán chỉ được ghi thêm, không được sửa.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnly("Nhật ký kiểm toán chỉ được ghi thêm, không được xoá.")

    def __str__(self):
        from .labels import action_label

        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username or '-'}: {action_label(self.action)}"
