"""An account's second factor: one TOTP secret (RFC 6238, an authenticator app) and its one-time backup codes."""

from django.conf import settings
from django.db import models


class TOTPDevice(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="totp", verbose_name="tài khoản"
    )
    secret = models.CharField("khoá bí mật", max_length=64)  # base32, 160 bits
    created_at = models.DateTimeField("tạo lúc", auto_now_add=True)
    confirmed_at = models.DateTimeField("đăng ký xong lúc", null=True, blank=True)
    # The last 30-second step a code was accepted for: a code (that step or earlier) is never accepted again.
    last_step = models.BigIntegerField("bước thời gian đã dùng", default=0)

    class Meta:
        verbose_name = "xác thực hai lớp"
        verbose_name_plural = "xác thực hai lớp"

    def __str__(self):
        return f"{self.user.get_username()}: {'đã đăng ký' if self.confirmed_at else 'đang đăng ký'}"


class BackupCode(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="backup_codes")
    code_hash = models.CharField(max_length=64, unique=True)  # sha256 of "<user id>:<code>"; the code is shown once
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "mã dự phòng"
        verbose_name_plural = "mã dự phòng"
