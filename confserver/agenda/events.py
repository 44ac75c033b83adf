"""Events the agenda domain returns for the socket layer to fan out.

One pydantic class per event, tagged by `event`, extra fields forbidden; the
domain functions return `.dump()` of these, plain JSON-ready dicts.
"""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def dump(self) -> dict:
        return self.model_dump(mode="json")


class ItemRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: int
    position: int
    title: str


class AgendaItemEvent(Event):
    """The chair moved the meeting to an agenda item (item None: no current item)."""

    event: Literal["agenda_item"] = "agenda_item"
    meeting_id: int
    seq: int
    at: datetime
    item: ItemRef | None


class Presenter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: int | None
    room_id: int | None  # set when a room holding the floor presents


class PresentEvent(Event):
    """Everyone in the synced view should show this page of this document version."""

    event: Literal["present"] = "present"
    meeting_id: int
    seq: int
    at: datetime
    document_id: int
    version_id: int
    title: str
    page: int
    page_count: int
    presenter: Presenter


class PresentStopEvent(Event):
    event: Literal["present_stop"] = "present_stop"
    meeting_id: int
    seq: int
    at: datetime


class PublishedDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")
    document_id: int
    version_id: int
    version: int
    title: str
    item_id: int | None
    page_count: int
    sha256: str
    url: str


class PublishedItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: int
    position: int
    title: str
    presenter_unit: str | None
    planned_start: datetime | None
    planned_minutes: int | None


class AgendaPublishedEvent(Event):
    """The agenda was sent ahead: invited rooms should refresh it. Confidential
    documents are not listed, only counted."""

    event: Literal["agenda_published"] = "agenda_published"
    meeting_id: int
    publication: int
    published_at: datetime
    items: list[PublishedItem]
    documents: list[PublishedDocument]
    confidential_documents: int
