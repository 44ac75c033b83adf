"""Administrative units, their meeting rooms, meetings and who takes part."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Level(models.IntegerChoices):
    """Administrative level; the number is the rank (lower = higher up)."""

    CENTRAL = 0, "Trung ương"
    PROVINCE = 1, "Tỉnh"
    DISTRICT = 2, "Huyện"
    COMMUNE = 3, "Xã"


class DivisionType(models.TextChoices):
    TRUNG_UONG = "trung_uong", "Trung ương"
    TINH = "tinh", "Tỉnh"
    THANH_PHO_TRUNG_UONG = "thanh_pho_trung_uong", "Thành phố trực thuộc trung ương"
    THANH_PHO = "thanh_pho", "Thành phố"
    THI_XA = "thi_xa", "Thị xã"
    QUAN = "quan", "Quận"
    HUYEN = "huyen", "Huyện"
    XA = "xa", "Xã"
    PHUONG = "phuong", "Phường"
    THI_TRAN = "thi_tran", "Thị trấn"
    DAC_KHU = "dac_khu", "Đặc khu"


LEVEL_OF_TYPE = {
    DivisionType.TRUNG_UONG: Level.CENTRAL,
    DivisionType.TINH: Level.PROVINCE,
    DivisionType.THANH_PHO_TRUNG_UONG: Level.PROVINCE,
    DivisionType.THANH_PHO: Level.DISTRICT,
    DivisionType.THI_XA: Level.DISTRICT,
    DivisionType.QUAN: Level.DISTRICT,
    DivisionType.HUYEN: Level.DISTRICT,
    DivisionType.XA: Level.COMMUNE,
    DivisionType.PHUONG: Level.COMMUNE,
    DivisionType.THI_TRAN: Level.COMMUNE,
    DivisionType.DAC_KHU: Level.COMMUNE,
}

PATH_SEP = "."


class AdminUnit(models.Model):
    """A unit of the administrative hierarchy (central, province, district, commune).

    `path` is a materialised path of codes ("VN.46.474.19753."), so a subtree is
    one indexed prefix query; see rooms/hierarchy.py.
    """

    code = models.CharField("mã", max_length=16, unique=True)
    name = models.CharField("tên", max_length=200)
    division_type = models.CharField("loại", max_length=32, choices=DivisionType.choices)
    level = models.PositiveSmallIntegerField("cấp", choices=Level.choices)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children", verbose_name="đơn vị cha"
    )
    # unique=True also gives PostgreSQL a varchar_pattern_ops index, which serves
    # the LIKE 'prefix%' of subtree queries whatever the collation.
    path = models.CharField("đường dẫn trong cây", max_length=255, unique=True, editable=False)

    class Meta:
        verbose_name = "đơn vị hành chính"
        verbose_name_plural = "đơn vị hành chính"
        ordering = ["path"]
        indexes = [
            models.Index(fields=["level", "path"], name="unit_level_path"),
        ]

    def __str__(self):
        return f"{self.name} ({self.code})"

    def is_within(self, other: "AdminUnit") -> bool:
        """True when this unit is `other` or one of its descendants."""
        return self.path.startswith(other.path)


class Room(models.Model):
    """A meeting room (phòng họp trực tuyến) of a unit; a unit may have several."""

    unit = models.ForeignKey(AdminUnit, on_delete=models.PROTECT, related_name="rooms", verbose_name="đơn vị")
    name = models.CharField("tên phòng", max_length=200)
    is_active = models.BooleanField("đang dùng", default=True)

    class Meta:
        verbose_name = "phòng họp"
        verbose_name_plural = "phòng họp"
        ordering = ["unit__path", "id"]
        constraints = [models.UniqueConstraint(fields=["unit", "name"], name="room_unique_name_per_unit")]

    def __str__(self):
        return self.name


class MeetingState(models.TextChoices):
    SCHEDULED = "scheduled", "Đã lên lịch"
    TEST_RUN = "test_run", "Chạy thử"
    LIVE = "live", "Đang họp"
    ENDED = "ended", "Đã kết thúc"


class Meeting(models.Model):
    host_unit = models.ForeignKey(
        AdminUnit, on_delete=models.PROTECT, related_name="hosted_meetings", verbose_name="đơn vị chủ trì"
    )
    title = models.CharField("tiêu đề", max_length=300)
    scheduled_start = models.DateTimeField("bắt đầu dự kiến")
    scheduled_end = models.DateTimeField("kết thúc dự kiến")
    test_run_at = models.DateTimeField("chạy thử lúc", null=True, blank=True)
    place = models.CharField("địa điểm", max_length=300, blank=True)
    state = models.CharField("trạng thái", max_length=16, choices=MeetingState.choices, default=MeetingState.SCHEDULED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name="người tạo"
    )
    created_at = models.DateTimeField("tạo lúc", auto_now_add=True)
    started_at = models.DateTimeField("khai mạc lúc", null=True, blank=True)
    ended_at = models.DateTimeField("kết thúc lúc", null=True, blank=True)

    class Meta:
        verbose_name = "cuộc họp"
        verbose_name_plural = "cuộc họp"
        ordering = ["-scheduled_start", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(scheduled_end__gt=models.F("scheduled_start")), name="meeting_end_after_start"
            )
        ]

    def __str__(self):
        return self.title


class InviteStatus(models.TextChoices):
    INVITED = "invited", "Đã mời"
    CONFIRMED = "confirmed", "Đã xác nhận"
    JOINED = "joined", "Đã vào họp"


class RollCall(models.TextChoices):
    NOT_MARKED = "not_marked", "Chưa điểm danh"
    PRESENT_ONLINE = "present_online", "Có mặt trực tuyến"
    PRESENT_IN_PERSON = "present_in_person", "Có mặt trực tiếp"
    ABSENT = "absent", "Vắng mặt"


class Participation(models.Model):
    """One invited room of a meeting."""

    meeting = models.ForeignKey(
        Meeting, on_delete=models.CASCADE, related_name="participations", verbose_name="cuộc họp"
    )
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="participations", verbose_name="phòng họp")
    status = models.CharField(
        "tình trạng mời", max_length=16, choices=InviteStatus.choices, default=InviteStatus.INVITED
    )
    invited_at = models.DateTimeField("mời lúc", auto_now_add=True)
    confirmed_at = models.DateTimeField("xác nhận lúc", null=True, blank=True)
    joined_at = models.DateTimeField("vào họp lúc", null=True, blank=True)
    roll_call = models.CharField("điểm danh", max_length=24, choices=RollCall.choices, default=RollCall.NOT_MARKED)
    absence_reason = models.CharField("lý do vắng", max_length=300, blank=True)
    roll_call_at = models.DateTimeField("điểm danh lúc", null=True, blank=True)

    class Meta:
        verbose_name = "phòng tham dự"
        verbose_name_plural = "phòng tham dự"
        constraints = [models.UniqueConstraint(fields=["meeting", "room"], name="participation_unique_room")]
        indexes = [models.Index(fields=["room", "meeting"], name="participation_room")]

    def __str__(self):
        return f"{self.room} — {self.meeting}" if self.room_id and self.meeting_id else "phòng tham dự"


class TimelineKind(models.TextChoices):
    """What a timeline row records. Every kind written by `timeline.record` has its label here
    (tests/rooms/test_vietnamese_admin.py checks the code for kinds without one)."""

    CREATED = "created", "Tạo cuộc họp"
    INVITED = "invited", "Mời thêm phòng"
    STATE = "state", "Chuyển trạng thái cuộc họp"
    JOIN = "join", "Phòng vào họp"
    LEAVE = "leave", "Phòng rời họp"
    HAND_RAISED = "hand_raised", "Phòng xin phát biểu"
    HAND_LOWERED = "hand_lowered", "Phòng thôi xin phát biểu"
    FLOOR_GRANTED = "floor_granted", "Cho phòng phát biểu"
    FLOOR_RELEASED = "floor_released", "Phòng kết thúc phát biểu"
    FLOOR_REVOKED = "floor_revoked", "Chủ trì thu hồi phát biểu"
    FLOOR_PRESENT = "floor_present", "Cho phòng phát biểu trình chiếu"
    BROADCAST = "broadcast", "Phát hình phòng"
    LECTURE_MODE = "lecture_mode", "Về hình chủ trì"
    MUTED = "muted", "Tắt tiếng phòng"
    UNMUTED = "unmuted", "Bật tiếng phòng"
    DROPPED = "dropped", "Ngắt phòng khỏi cuộc họp"
    READMITTED = "readmitted", "Cho phòng vào lại"
    ROLL_CALL_START = "roll_call_start", "Bắt đầu điểm danh"
    ROLL_CALL_END = "roll_call_end", "Kết thúc điểm danh"
    ROLL_CALL_ANSWER = "roll_call_answer", "Phòng báo có mặt"
    ROLL_CALL_MARK = "roll_call_mark", "Chủ trì ghi điểm danh"
    AGENDA_ITEM = "agenda_item", "Chuyển nội dung họp"
    AGENDA_PUBLISHED = "agenda_published", "Phát hành chương trình họp"
    DOCUMENT_VERSION = "document_version", "Tải lên tài liệu"
    PRESENT = "present", "Trình chiếu tài liệu"
    PRESENT_STOP = "present_stop", "Dừng trình chiếu"
    RECORDING_STARTED = "recording_started", "Bắt đầu ghi hình"
    RECORDING_STOPPED = "recording_stopped", "Dừng ghi hình"
    RECORDING_FAILED = "recording_failed", "Ghi hình bị lỗi"
    RELAY_FAILOVER = "relay_failover", "Chuyển phòng sang máy chủ truyền hình khác"
    DELEGATE_CHECKIN = "delegate_checkin", "Đại biểu điểm danh có mặt"
    # Speakers and votes of delegates (confserver/votes/, issue 14)
    SPEAKER_REGISTERED = "speaker_registered", "Đại biểu đăng ký phát biểu"
    SPEAKER_WITHDRAWN = "speaker_withdrawn", "Đại biểu rút đăng ký phát biểu"
    SPEAKERS_ORDERED = "speakers_ordered", "Sắp xếp thứ tự phát biểu"
    SPEAKER_CALLED = "speaker_called", "Mời đại biểu phát biểu"
    SPEAKER_LIMIT = "speaker_limit", "Đặt thời gian phát biểu"
    SPEAKER_ENDED = "speaker_ended", "Đại biểu kết thúc phát biểu"
    VOTE_OPENED = "vote_opened", "Bắt đầu biểu quyết"
    VOTE_CLOSED = "vote_closed", "Kết thúc biểu quyết"


class TimelineEvent(models.Model):
    """Every control action of a meeting with its time; recordings cut chapters from it."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="timeline", verbose_name="cuộc họp")
    at = models.DateTimeField("lúc", db_index=True)
    kind = models.CharField("việc", max_length=40, choices=TimelineKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="người thực hiện",
    )
    room = models.ForeignKey(
        Room, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name="phòng"
    )
    data = models.JSONField("chi tiết", default=dict, blank=True)

    class Meta:
        verbose_name = "diễn biến cuộc họp"
        verbose_name_plural = "diễn biến cuộc họp"
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["meeting", "at"], name="timeline_meeting_at")]

    def __str__(self):
        text = self.get_kind_display()
        if self.room_id:
            text += f" — {self.room}"
        if self.at:
            text += f" ({timezone.localtime(self.at):%H:%M:%S %d/%m/%Y})"
        return text


class RoomToken(models.Model):
    """One signed room link (rooms/tokens.py): bound to a meeting, expiring, revocable by its id."""

    jti = models.CharField("mã liên kết", max_length=32, unique=True, editable=False)
    terminal = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name="máy trạm"
    )
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+", verbose_name="phòng")
    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="room_tokens", verbose_name="cuộc họp")
    issued_at = models.DateTimeField("cấp lúc")
    expires_at = models.DateTimeField("hết hạn lúc")
    revoked_at = models.DateTimeField("thu hồi lúc", null=True, blank=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="người cấp",
    )

    class Meta:
        verbose_name = "liên kết phòng"
        verbose_name_plural = "liên kết phòng"
        ordering = ["-issued_at", "-id"]
        indexes = [models.Index(fields=["meeting", "room"], name="roomtoken_meeting_room")]

    def __str__(self):
        return f"{self.room} → {self.meeting} ({self.jti[:6]}…)"
