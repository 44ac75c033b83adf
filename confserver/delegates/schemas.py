"""Pydantic schemas of the delegates' HTTP API (/api/delegates)."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from confserver.rooms.schemas import Strict

Seat = Literal["hall", "room"]


class DelegateIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    position: str = Field(default="", max_length=200)
    unit: str = Field(default="", max_length=300)
    phone: str = Field(default="", max_length=32)
    email: str = Field(default="", max_length=254)
    seat: Seat = "hall"
    room_id: int | None = Field(default=None, ge=1, le=2**63 - 1)


class DelegatePatch(Strict):
    """What changes of one delegate (fields left out stay)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    position: str | None = Field(default=None, max_length=200)
    unit: str | None = Field(default=None, max_length=300)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)
    seat: Seat | None = None
    room_id: int | None = Field(default=None, ge=1, le=2**63 - 1)


class DelegateOut(BaseModel):
    id: int
    meeting_id: int
    name: str
    position: str
    unit: str
    phone: str
    email: str
    seat: Seat
    room_id: int | None
    room_name: str | None
    checked_in: bool
    checked_in_at: datetime | None
    checked_in_by: str


class QuorumOut(BaseModel):
    present: int
    expected: int
    needed: int
    met: bool


class MeetingBrief(BaseModel):
    id: int
    title: str
    state: str
    scheduled_start: datetime
    scheduled_end: datetime


class MeOut(BaseModel):
    delegate: DelegateOut
    meeting: MeetingBrief
    quorum: QuorumOut


class HallCheckinIn(Strict):
    code: str = Field(min_length=1, max_length=1000)


class CheckinOut(BaseModel):
    delegate: DelegateOut
    quorum: QuorumOut
    changed: bool


class NoteIn(Strict):
    text: str = Field(max_length=4000)


class NoteOut(BaseModel):
    version_id: int
    page: int
    text: str
    updated_at: datetime | None


class LinkOut(BaseModel):
    delegate_id: int
    name: str
    token: str
    url: str
    expires_at: datetime
    qr_svg: str


class HallOut(BaseModel):
    code: str
    url: str
    qr_svg: str


class ListOut(BaseModel):
    delegates: list[DelegateOut]
    quorum: QuorumOut
    rule: str  # "1/2": present must be more than this fraction of all delegates


class ImportOut(BaseModel):
    created: int
    delegates: list[DelegateOut]


class QuorumRuleIn(Strict):
    numerator: int = Field(ge=1, le=99)
    denominator: int = Field(ge=1, le=100)


class SendOut(BaseModel):
    sent: int
    failed: int
    skipped: int
