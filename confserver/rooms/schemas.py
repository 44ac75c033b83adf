"""Pydantic schemas of the meetings HTTP API."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from confserver.fields import reject_nul


class Strict(BaseModel):
    """Every input schema: extra fields refused, no NUL in any text (confserver/fields.py)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data):
        return reject_nul(data)


class ErrorOut(BaseModel):
    code: str
    message: str
    details: list | None = None


LevelName = Literal["province", "district", "commune"]


class SelectionIn(Strict):
    """Who is invited: `subtree` (of the host unit, or of `root` inside it) down to `max_level` or only at
    `only_level`; or `units`, the picked `unit_codes`. The host unit is always invited."""

    mode: Literal["subtree", "units"] = "subtree"
    max_level: LevelName | None = None
    only_level: LevelName | None = None
    root: str | None = Field(default=None, min_length=1, max_length=16)
    unit_codes: list[str] = Field(default_factory=list, max_length=20000)

    @model_validator(mode="after")
    def _units_need_codes(self):
        if self.mode == "units" and not self.unit_codes:
            raise ValueError("mode 'units' cần danh sách unit_codes")
        return self


class MeetingIn(Strict):
    title: str = Field(min_length=1, max_length=300)
    host_unit: str = Field(min_length=1, max_length=16)
    scheduled_start: datetime
    scheduled_end: datetime
    test_run_at: datetime | None = None
    place: str = Field(default="", max_length=300)
    participants: SelectionIn = Field(default_factory=SelectionIn)


class MeetingEditIn(Strict):
    """What to change before the meeting is live; a field left out stays as it is (`test_run_at: null`
    clears it), `participants` replaces the invitation."""

    title: str | None = Field(default=None, min_length=1, max_length=300)
    scheduled_start: datetime | None = None
    scheduled_end: datetime | None = None
    test_run_at: datetime | None = None
    place: str | None = Field(default=None, max_length=300)
    participants: SelectionIn | None = None


class MeetingCopyIn(Strict):
    """A past (or any) meeting again at a new time, with the same invited rooms."""

    title: str | None = Field(default=None, min_length=1, max_length=300)
    scheduled_start: datetime
    scheduled_end: datetime
    test_run_at: datetime | None = None
    place: str | None = Field(default=None, max_length=300)


class StateIn(Strict):
    state: Literal["scheduled", "test_run", "live", "ended"]


class RollCallIn(Strict):
    status: Literal["not_marked", "present_online", "present_in_person", "absent"]
    reason: str = Field(default="", max_length=300)


class UnitOut(BaseModel):
    code: str
    name: str
    division_type: str
    level: int
    parent_code: str | None


class UnitNodeOut(UnitOut):
    rooms: int  # active rooms of the unit itself
    folded: str  # the name without accents, lower case (agenda/fold.py), for the page's search


class MeetingOut(BaseModel):
    id: int
    title: str
    host_unit: str
    host_unit_name: str
    scheduled_start: datetime
    scheduled_end: datetime
    test_run_at: datetime | None = None
    place: str = ""
    state: str
    started_at: datetime | None
    ended_at: datetime | None
    invited_rooms: int


class AttendanceRow(BaseModel):
    room_id: int
    room_name: str
    unit_code: str
    unit_name: str
    level: int
    # None in another room's row read by a room terminal (confserver/rooms/attendance.py)
    status: str | None = None
    confirmed_at: datetime | None = None
    joined_at: datetime | None = None
    roll_call: str | None = None
    absence_reason: str | None = None


class AttendanceOut(BaseModel):
    meeting_id: int
    total: int
    counts: dict[str, int]
    rooms: list[AttendanceRow]


class InvitedOut(BaseModel):
    invited: int


class InvitationOut(BaseModel):
    meeting_id: int
    rooms: int
    unit_codes: list[str]


class TimelineRow(BaseModel):
    at: datetime
    kind: str
    room_id: int | None
    actor: str | None
    data: dict


class RoomTokenOut(BaseModel):
    room_id: int
    token: str
    expires_at: datetime
    url: str


class RevokedOut(BaseModel):
    meeting_id: int
    rooms: list[int]  # the rooms whose links were revoked
