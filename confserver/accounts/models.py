"""Accounts belong to a unit and carry one role that decides their scope."""

from django.contrib.auth.models import AbstractUser
from django.db import models


class Role(models.TextChoices):
    HOST = "host", "Điều hành (chủ trì)"
    TERMINAL = "terminal", "Máy trạm phòng họp"
    REVIEWER = "reviewer", "Cán bộ xem lại"
    ADMIN = "admin", "Quản trị"


class User(AbstractUser):
    unit = models.ForeignKey(
        "rooms.AdminUnit",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="accounts",
        verbose_name="đơn vị",
    )
    role = models.CharField("vai trò", max_length=16, choices=Role.choices, default=Role.REVIEWER)
    # A room terminal account is the PC of one meeting room.
    room = models.ForeignKey(
        "rooms.Room",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="terminals",
        verbose_name="phòng họp",
    )

    class Meta:
        verbose_name = "tài khoản"
        verbose_name_plural = "tài khoản"
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(role="terminal") | models.Q(room__isnull=False), name="terminal_has_room"
            ),
        ]
