"""HTTP API of the minutes (biên bản, issue 10, item 11), mounted at /api/minutes in confserver/api.py.

GET reads the saved minutes or a fresh draft; PUT edits (the chair side: hosts of the meeting's subtree and
administrators); POST …/finalize closes them; GET …/pdf is Form 1.9 as PDF. Reviewers read; terminals never.
"""
from datetime import datetime
from urllib.parse import quote

from django.http import HttpResponse
from ninja import Router, Schema
from pydantic import ConfigDict, Field

from confserver.rooms.schemas import ErrorOut

from . import minutes, minutes_pdf
from .models import Minutes

router = Router(tags=["minutes"])
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut}


class Section(Schema):
    model_config = ConfigDict(extra="forbid")
    heading: str = Field(max_length=500)
    lines: list[str] = Field(default_factory=list, max_length=2000)


class MinutesIn(Schema):
    model_config = ConfigDict(extra="forbid")
    number: str | None = Field(None, max_length=60)
    place: str | None = Field(None, max_length=300)
    chair_name: str | None = Field(None, max_length=200)
    secretary_name: str | None = Field(None, max_length=200)
    content: list[Section] | None = Field(None, max_length=500)
    conclusions: str | None = Field(None, max_length=100_000)


class MinutesOut(Schema):
    meeting_id: int
    saved: bool
    state: str
    agency: str
    number: str
    place: str
    chair_name: str
    secretary_name: str
    content: list[Section]
    conclusions: str
    start: datetime | None
    end: datetime | None
    updated_at: datetime | None
    updated_by: str | None


def _out(m: Minutes) -> MinutesOut:
    t = minutes.times(m.meeting)
    return MinutesOut(meeting_id=m.meeting_id, saved=m.pk is not None, state=m.state,
                      agency=minutes.agency_name(m.meeting), number=m.number, place=m.place,
                      chair_name=m.chair_name, secretary_name=m.secretary_name, content=m.content,
                      conclusions=m.conclusions, start=t.start, end=t.end,
                      updated_at=m.updated_at if m.pk else None,
                      updated_by=m.updated_by.username if m.pk and m.updated_by_id else None)


@router.get("/meetings/{meeting_id}", response={200: MinutesOut, **ERRORS})
def get_minutes(request, meeting_id: int):
    """The saved minutes, or a draft from the record (`saved: false`)."""
    return _out(minutes.current(request.auth, meeting_id))


@router.put("/meetings/{meeting_id}", response={200: MinutesOut, **ERRORS})
def put_minutes(request, meeting_id: int, body: MinutesIn):
    """Save the chair side's edits; fields left out keep their value."""
    fields = body.dict(exclude_unset=True)
    if "content" in fields and fields["content"] is not None:
        fields["content"] = [{"heading": s["heading"], "lines": list(s["lines"])} for s in fields["content"]]
    return _out(minutes.save(request.auth, meeting_id, **fields))


@router.post("/meetings/{meeting_id}/finalize", response={200: MinutesOut, **ERRORS})
def finalize_minutes(request, meeting_id: int):
    return _out(minutes.finalize(request.auth, meeting_id))


@router.get("/meetings/{meeting_id}/pdf", response={200: None, **ERRORS})
def minutes_pdf_file(request, meeting_id: int):
    """Form 1.9 as PDF (unsigned: signing with pyHanko is not done yet)."""
    m = minutes.current(request.auth, meeting_id)
    response = HttpResponse(minutes_pdf.render(m), content_type="application/pdf")
    name = f"bien-ban-{meeting_id}.pdf"
    response["Content-Disposition"] = f"inline; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"
    return response
