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


class SelectionIn(Strict):
    mode: Literal["subtree", "units"] = "subtree"
    max_level: Literal["province", "district", "commune"] | None = None
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
    participants: SelectionIn = Field(default_factory=SelectionIn)


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


class MeetingOut(BaseModel):
    id: int
    title: str
    host_unit: str
    host_unit_name: str
    scheduled_start: datetime
    scheduled_end: datetime
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
