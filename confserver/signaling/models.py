"""The durable copy of a meeting's live state, so a Redis restart does not forget the meeting."""

from django.db import models


class LiveState(models.Model):
    """Program, queue, mutes, roll call and dropped rooms as last changed (written through on every change;
    `rev` orders the writes of several workers). The meeting's state is Meeting.state."""

    meeting = models.OneToOneField(
        "rooms.Meeting", on_delete=models.CASCADE, primary_key=True, related_name="live_state", verbose_name="cuộc họp"
    )
    rev = models.BigIntegerField("phiên bản", default=0)
    mode = models.CharField("chế độ", max_length=16, default="lecture")
    source_room = models.BigIntegerField("phòng nguồn", null=True, blank=True)
    floor_room = models.BigIntegerField("phòng phát biểu", null=True, blank=True)
    floor_may_present = models.BooleanField("được trình chiếu", default=False)
    # The speaker's clock (issue 12, item 10): since when the room speaks (server time, Unix s), the chair's limit.
    floor_since = models.FloatField("phát biểu từ", null=True, blank=True)
    floor_limit_s = models.PositiveIntegerField("giới hạn phát biểu (giây)", null=True, blank=True)
    chair_room = models.BigIntegerField("phòng chủ trì", null=True, blank=True)
    queue = models.JSONField("hàng đợi phát biểu", default=list)
    muted = models.JSONField("phòng tắt tiếng", default=list)
    roll_call = models.BooleanField("đang điểm danh", default=False)
    dropped = models.JSONField("phòng bị ngắt, chưa cho vào lại", default=list)
    updated_at = models.DateTimeField("cập nhật", auto_now=True)

    class Meta:
        verbose_name = "trạng thái trực tiếp"
        verbose_name_plural = "trạng thái trực tiếp"
