"""Pydantic schemas of the agenda HTTP API."""

from datetime import datetime

from pydantic import BaseModel, Field

from confserver.fields import Id
from confserver.rooms.schemas import Strict


class ItemIn(Strict):
    title: str = Field(min_length=1, max_length=300)
    presenter_unit: str | None = Field(default=None, max_length=16)
    planned_start: datetime | None = None
    planned_minutes: int | None = Field(default=None, ge=1, le=1440)


class ItemPatch(Strict):
    """Only the fields sent are changed; null clears an optional field."""

    title: str | None = Field(default=None, min_length=1, max_length=300)
    presenter_unit: str | None = Field(default=None, max_length=16)
    planned_start: datetime | None = None
    planned_minutes: int | None = Field(default=None, ge=1, le=1440)


class OrderIn(Strict):
    item_ids: list[Id] = Field(max_length=500)


class ItemOut(BaseModel):
    id: int
    position: int
    title: str
    presenter_unit: str | None
    presenter_unit_name: str | None
    planned_start: datetime | None
    planned_minutes: int | None


class VersionOut(BaseModel):
    id: int
    number: int
    is_current: bool
    superseded_at: datetime | None
    filename: str
    sha256: str
    size: int
    page_count: int
    uploaded_at: datetime
    signature_status: str
    file_url: str
    page_url: str  # add ?width=480|960|1600; {page} is 1-based


class DocumentOut(BaseModel):
    id: int
    meeting_id: int
    item_id: int | None
    title: str
    confidential: bool
    current: VersionOut | None
    versions: list[VersionOut]


class DocumentPatch(Strict):
    title: str | None = Field(default=None, min_length=1, max_length=300)
    item_id: Id | None = None
    confidential: bool | None = None


class SignatureOut(BaseModel):
    field: str | None
    signer_cn: str | None
    signer_subject: str | None
    signing_time: datetime | None
    intact: bool
    valid: bool
    coverage: str | None
    modification_level: str | None
    trust: str  # "trusted" | "untrusted" | "unknown" (no trust roots configured)
    error: str | None


class SignatureReportOut(BaseModel):
    version_id: int
    signed: bool
    status: str  # "unsigned" | "intact" | "broken" | "error"
    signatures: list[SignatureOut]


class PublicationOut(BaseModel):
    id: int
    number: int
    published_at: datetime
    event: dict


class RoomReceipt(BaseModel):
    room_id: int
    room_name: str
    unit_code: str
    first_opened_at: datetime
    last_opened_at: datetime
    count: int


class DocumentReceipts(BaseModel):
    document_id: int
    title: str
    confidential: bool
    version_id: int
    version: int
    is_current: bool
    rooms_opened: int
    rooms_total: int
    opened_by: list[RoomReceipt]


class RoomOpened(BaseModel):
    version_id: int
    first_opened_at: datetime
    last_opened_at: datetime
    count: int


class RoomSummary(BaseModel):
    room_id: int
    room_name: str
    unit_code: str
    unit_name: str
    current_opened: int
    current_total: int
    first_opened_at: datetime | None
    last_opened_at: datetime | None
    opened: list[RoomOpened]


class ReceiptsOut(BaseModel):
    meeting_id: int
    documents: list[DocumentReceipts]
    rooms: list[RoomSummary]


class SearchHitOut(BaseModel):
    meeting_id: int
    document_id: int
    document_title: str
    version_id: int
    version: int
    page: int
    snippet: str  # HTML: hits in <mark>, the rest escaped


class SyncStateOut(BaseModel):
    meeting_id: int
    seq: int
    agenda_item: dict | None
    present: dict | None
