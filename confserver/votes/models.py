"""Speaker registration and voting (biểu quyết) of a meeting's delegates (issue 14, items 4-5).

A secret ballot keeps who voted (`Ballot` with `choice` NULL) apart from how (`SecretTally`: three counters per
vote, no row per ballot), so no id, time or order in the tables links a delegate to a choice."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Choice(models.TextChoices):
    YES = "yes", "Tán thành"
    NO = "no", "Không tán thành"
    ABSTAIN = "abstain", "Không biểu quyết"


class Rule(models.TextChoices):
    HALF_ALL = "half_all", "Quá nửa tổng số đại biểu"
    HALF_PRESENT = "half_present", "Quá nửa số đại biểu có mặt"
    TWO_THIRDS_ALL = "two_thirds_all", "Ít nhất hai phần ba tổng số đại biểu"


class Vote(models.Model):
    OPEN, CLOSED = "open", "closed"

    meeting = models.ForeignKey(
        "rooms.Meeting", on_delete=models.CASCADE, related_name="votes", verbose_name="cuộc họp"
    )
    agenda_item = models.ForeignKey(
        "agenda.AgendaItem",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="votes",
        verbose_name="nội dung họp",
    )
    question = models.CharField("nội dung biểu quyết", max_length=500)
    secret = models.BooleanField("bỏ phiếu kín", default=False)
    rule = models.CharField("nguyên tắc thông qua", max_length=20, choices=Rule.choices, default=Rule.HALF_ALL)
    state = models.CharField(
        "trạng thái", max_length=10, default=OPEN, choices=[(OPEN, "Đang biểu quyết"), (CLOSED, "Đã kết thúc")]
    )
    limit_s = models.PositiveIntegerField("thời gian (giây)")
    opened_at = models.DateTimeField("mở lúc")
    closes_at = models.DateTimeField("hết giờ lúc")
    closed_at = models.DateTimeField("kết thúc lúc", null=True, blank=True)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    result = models.JSONField("kết quả", null=True, blank=True)

    class Meta:
        verbose_name = "biểu quyết"
        verbose_name_plural = "biểu quyết"
        ordering = ["meeting", "opened_at", "id"]
        constraints = [models.UniqueConstraint(fields=["meeting"], condition=Q(state="open"), name="votes_one_open")]

    def __str__(self):
        return self.question


class Ballot(models.Model):
    """One delegate's ballot: committed before it is acknowledged, never updated. In a secret vote `choice` is NULL
    and `cast_at` too (the choice went into SecretTally in the same transaction)."""

    vote = models.ForeignKey(Vote, on_delete=models.CASCADE, related_name="ballots")
    # PROTECT: a cast ballot is never lost with its delegate (the admin or the chair's list cannot delete a
    # delegate who voted; delegates.roster.remove and the admin refuse with a Vietnamese message).
    delegate = models.ForeignKey("delegates.Delegate", on_delete=models.PROTECT, related_name="ballots")
    choice = models.CharField(max_length=10, choices=Choice.choices, null=True)
    key = models.CharField("khóa chống gửi trùng", max_length=64)  # the client's idempotency key
    cast_at = models.DateTimeField(null=True)

    class Meta:
        verbose_name = "phiếu biểu quyết"
        verbose_name_plural = "phiếu biểu quyết"
        constraints = [models.UniqueConstraint(fields=["vote", "delegate"], name="votes_one_ballot")]


class SecretTally(models.Model):
    """How a secret vote went: counters per choice, rewritten at close (see voting.scrub). Each choice has SLOTS
    counters and a ballot adds to one chosen at random: one row per choice made every ballot of that choice wait for
    the one before it to commit (a lock convoy: 500 secret ballots in 8 s took 30 s at load 22)."""

    SLOTS = 16

    vote = models.ForeignKey(Vote, on_delete=models.CASCADE, related_name="tallies")
    choice = models.CharField(max_length=10, choices=Choice.choices)
    slot = models.PositiveSmallIntegerField(default=0)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["vote", "choice", "slot"], name="votes_one_tally_slot")]


class Speaker(models.Model):
    """A delegate's registration to speak on an agenda item (đăng ký phát biểu)."""

    WAITING, SPEAKING, DONE, WITHDRAWN = "waiting", "speaking", "done", "withdrawn"

    meeting = models.ForeignKey("rooms.Meeting", on_delete=models.CASCADE, related_name="speakers")
    agenda_item = models.ForeignKey(
        "agenda.AgendaItem", null=True, blank=True, on_delete=models.SET_NULL, related_name="speakers"
    )
    delegate = models.ForeignKey("delegates.Delegate", on_delete=models.CASCADE, related_name="speeches")
    topic = models.CharField("nội dung đăng ký", max_length=200)
    state = models.CharField(
        max_length=10,
        default=WAITING,
        choices=[
            (WAITING, "Chờ phát biểu"),
            (SPEAKING, "Đang phát biểu"),
            (DONE, "Đã phát biểu"),
            (WITHDRAWN, "Đã rút"),
        ],
    )
    position = models.PositiveIntegerField(default=0)
    registered_at = models.DateTimeField(auto_now_add=True)
    called_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    limit_s = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = "đăng ký phát biểu"
        verbose_name_plural = "đăng ký phát biểu"
        ordering = ["meeting", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["meeting"], condition=Q(state="speaking"), name="votes_one_speaker"),
            models.UniqueConstraint(
                fields=["delegate", "agenda_item"], condition=Q(state="waiting"), name="votes_one_waiting"
            ),
        ]
