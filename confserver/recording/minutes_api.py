"""HTTP API of the minutes (biên bản, issue 10, item 11), mounted at /api/minutes in confserver/api.py.

GET reads the saved minutes or a fresh draft; PUT edits (the chair side: hosts of the meeting's subtree and
administrators); POST …/finalize closes them (and signs the PDF when a certificate is configured); GET …/pdf is
Form 1.9 as PDF: the stored, possibly signed file once final (each download logged in the recordings' access log).
Reviewers read; terminals never. An editor sends back
the `updated_at` it loaded as `expected_updated_at` so that it cannot overwrite someone else's newer save.
"""

from datetime import datetime
from urllib.parse import quote

from django.http import HttpResponse
from ninja import Router, Schema
from pydantic import ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from confserver.errors import DomainError
from confserver.rooms.schemas import ErrorOut

from . import minutes, minutes_sign
from .access import log_access
from .models import AccessAction, Minutes, MinutesState

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
    # The `updated_at` the editor loaded (null: it loaded an unsaved draft); left out: overwrite whatever is saved.
    expected_updated_at: datetime | None = None


class FinalizeIn(Schema):
    model_config = ConfigDict(extra="forbid")
    expected_updated_at: datetime | None = None


class RecordingSealOut(Schema):
    segments: int
    last_sha256: str
    unfinished: bool
    fixed: bool  # taken at finalising (else: the recording as it is now)


class MinutesOut(Schema):
    meeting_id: int
    saved: bool
    state: str
    meeting_title: str
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
    finalized_at: datetime | None
    recording: RecordingSealOut
    signed: bool
    signer: str
    signing_configured: bool
    can_edit: bool


def _out(m: Minutes, user) -> MinutesOut:
    t = minutes.times(m.meeting)
    seal = minutes.seal_of(m)
    fixed = m.state == MinutesState.FINAL and m.finalized_at is not None
    return MinutesOut(
        meeting_id=m.meeting_id,
        saved=m.pk is not None,
        state=m.state,
        meeting_title=m.meeting.title,
        agency=minutes.agency_name(m.meeting),
        number=m.number,
        place=m.place,
        chair_name=m.chair_name,
        secretary_name=m.secretary_name,
        content=m.content,
        conclusions=m.conclusions,
        start=t.start,
        end=t.end,
        updated_at=m.updated_at if m.pk else None,
        updated_by=m.updated_by.username if m.pk and m.updated_by_id else None,
        finalized_at=m.finalized_at,
        recording=RecordingSealOut(
            segments=seal.segments, last_sha256=seal.last_sha256, unfinished=seal.unfinished, fixed=fixed
        ),
        signed=bool(m.signer),
        signer=m.signer,
        signing_configured=minutes_sign.configured(),
        can_edit=m.state != MinutesState.FINAL and minutes.can_edit(user, m.meeting),
    )


@router.get("/meetings/{meeting_id}", response={200: MinutesOut, **ERRORS})
def get_minutes(request, meeting_id: int):
    """The saved minutes, or a draft from the record (`saved: false`)."""
    return _out(minutes.current(request.auth, meeting_id), request.auth)


@router.put("/meetings/{meeting_id}", response={200: MinutesOut, **ERRORS})
def put_minutes(request, meeting_id: int, body: MinutesIn):
    """Save the chair side's edits; fields left out keep their value. 409 minutes_changed: someone saved after
    `expected_updated_at`."""
    fields = body.dict(exclude_unset=True)
    if "content" in fields and fields["content"] is not None:
        fields["content"] = [{"heading": s["heading"], "lines": list(s["lines"])} for s in fields["content"]]
    return _out(minutes.save(request.auth, meeting_id, **fields), request.auth)


@router.post("/meetings/{meeting_id}/finalize", response={200: MinutesOut, **ERRORS})
def finalize_minutes(request, meeting_id: int):
    """Close the minutes for editing; the PDF is made (and signed) now and kept. The JSON body
    ({"expected_updated_at": …}, application/json) is optional."""
    fields = {}
    if request.content_type == "application/json" and request.body.strip():
        try:
            fields = FinalizeIn.model_validate_json(request.body).model_dump(exclude_unset=True)
        except PydanticValidationError:
            raise DomainError("invalid", "Dữ liệu gửi lên không hợp lệ.", status=422) from None
    return _out(minutes.finalize(request.auth, meeting_id, **fields), request.auth)


@router.get("/meetings/{meeting_id}/pdf", response={200: None, **ERRORS})
def minutes_pdf_file(request, meeting_id: int):
    """Form 1.9 as PDF: finalised minutes as stored (signed when a certificate was configured), else a draft."""
    data, m = minutes.pdf_bytes(request.auth, meeting_id)
    log_access(request, m.meeting, None, AccessAction.MINUTES)  # issue 10, item 6: every download logged
    response = HttpResponse(data, content_type="application/pdf")
    name = f"bien-ban-{meeting_id}.pdf"
    response["Content-Disposition"] = f"inline; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"
    return response
