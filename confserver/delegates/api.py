"""HTTP API of delegates (mounted at /api/delegates): thin, parse → one domain call → shape.

Delegate side (`Authorization: Delegate <token>`, or a signed-in account with a delegate seat): /me,
/checkin (the hall's QR code), /papers, /notes. Chair side (signed-in host): the list, import, links and QR
codes, sending links ahead, the secretary's check-in, quorum rule, read receipts. A remote room's terminal
checks in its own room's delegates (the clerk).
"""

from django.db import transaction
from ninja import File, Router, UploadedFile

from confserver.errors import DomainError
from confserver.rooms import meetings, policy
from confserver.rooms.schemas import ErrorOut

from . import access, checkin, importer, links, live, notes, receipts, roster, tokens
from .models import CheckedInBy, Delegate, QuorumRule
from .schemas import (
    CheckinOut,
    DelegateIn,
    DelegateOut,
    DelegatePatch,
    HallCheckinIn,
    HallOut,
    ImportOut,
    LinkOut,
    ListOut,
    MeOut,
    NoteIn,
    NoteOut,
    QuorumOut,
    QuorumRuleIn,
    SendOut,
)

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}
router = Router(tags=["delegates"])


def delegate_out(d: Delegate) -> DelegateOut:
    return DelegateOut(
        id=d.pk,
        meeting_id=d.meeting_id,
        name=d.name,
        position=d.position,
        unit=d.unit,
        phone=d.phone,
        email=d.email,
        seat=d.seat,
        room_id=d.room_id,
        room_name=d.room.name if d.room_id else None,
        checked_in=d.checked_in_at is not None,
        checked_in_at=d.checked_in_at,
        checked_in_by=d.checked_in_by,
    )


def _base(request) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def _tell(meeting_id: int, event: dict | None) -> None:
    """A check-in reaches the chair, the rooms and the delegates (the meeting's group carries it to all)."""
    if event is not None:
        from confserver.signaling.consumers import notify_sync

        transaction.on_commit(lambda: notify_sync(meeting_id, event))


# ---- the delegate's own side ---------------------------------------------------------------------


@router.get("/meetings/{meeting_id}/me", response={200: MeOut, **ERRORS}, auth=None)
def me(request, meeting_id: int):
    d = access.delegate_for_request(request, meeting_id)
    m = d.meeting
    return MeOut(
        delegate=delegate_out(d),
        quorum=QuorumOut(**checkin.quorum(m)),
        meeting={
            "id": m.pk,
            "title": m.title,
            "state": m.state,
            "scheduled_start": m.scheduled_start,
            "scheduled_end": m.scheduled_end,
        },
    )


@router.post("/meetings/{meeting_id}/checkin", response={200: CheckinOut, **ERRORS}, auth=None)
def hall_checkin(request, meeting_id: int, payload: HallCheckinIn):
    """The delegate opened the hall's QR link on their own tablet: checked in ("qr")."""
    d = access.delegate_for_request(request, meeting_id)
    tokens.check_hall_code(payload.code, meeting_id)
    ev = checkin.check_in_at_hall(d)
    _tell(meeting_id, ev)
    return CheckinOut(delegate=delegate_out(d), quorum=QuorumOut(**checkin.quorum(d.meeting)), changed=ev is not None)


@router.get("/meetings/{meeting_id}/papers", response={200: dict, **ERRORS}, auth=None)
def papers(request, meeting_id: int):
    """The agenda, the documents the delegate may read and where the presenter is."""
    from confserver.agenda import access as agenda_access
    from confserver.agenda import agenda, documents, sync
    from confserver.agenda.api import document_out, item_out

    d = access.delegate_for_request(request, meeting_id)
    reader = access.reader_for(d)
    agenda_access.check_can_read(reader, d.meeting)
    state = sync.get_sync_state(d.meeting)
    return {
        "items": [item_out(i).model_dump(mode="json") for i in agenda.items(d.meeting)],
        "documents": [document_out(x).model_dump(mode="json") for x in documents.documents_for(reader, d.meeting)],
        "current_item": (state["agenda_item"] or {}).get("item"),
        "present": state["present"],
    }


@router.get("/meetings/{meeting_id}/notes/{version_id}/{page}", response={200: NoteOut, **ERRORS}, auth=None)
def read_note(request, meeting_id: int, version_id: int, page: int):
    d = access.delegate_for_request(request, meeting_id)
    n = notes.read(d, version_id, page)
    return NoteOut(version_id=version_id, page=page, text=n.text if n else "", updated_at=n.updated_at if n else None)


@router.put("/meetings/{meeting_id}/notes/{version_id}/{page}", response={200: NoteOut, **ERRORS}, auth=None)
def write_note(request, meeting_id: int, version_id: int, page: int, payload: NoteIn):
    d = access.delegate_for_request(request, meeting_id)
    n = notes.write(d, version_id, page, payload.text)
    return NoteOut(version_id=version_id, page=page, text=n.text if n else "", updated_at=n.updated_at if n else None)


@router.get("/meetings/{meeting_id}/notes", response={200: list[NoteOut], **ERRORS}, auth=None)
def my_notes(request, meeting_id: int):
    d = access.delegate_for_request(request, meeting_id)
    return [NoteOut(version_id=n.version_id, page=n.page, text=n.text, updated_at=n.updated_at) for n in notes.mine(d)]


# ---- the chair side ----------------------------------------------------------------------------------


@router.get("/meetings/{meeting_id}/delegates", response={200: ListOut, **ERRORS})
def list_delegates(request, meeting_id: int):
    """The chair side: every delegate; a remote room's terminal: its own room's delegates (the clerk)."""
    m = meetings.get_meeting(meeting_id)
    user = request.auth
    if getattr(user, "room_id", None) and not access.is_chair_side(user, m):
        policy.check_terminal_can_join(user, m)
        rows = list(Delegate.objects.filter(meeting=m, room_id=user.room_id).select_related("room").order_by("name"))
    else:
        rows = roster.listing(user, m)
    num, den = checkin.rule(m)
    return ListOut(
        delegates=[delegate_out(d) for d in rows], quorum=QuorumOut(**checkin.quorum(m)), rule=f"{num}/{den}"
    )


@router.post("/meetings/{meeting_id}/delegates", response={201: DelegateOut, **ERRORS})
def create_delegate(request, meeting_id: int, payload: DelegateIn):
    return 201, delegate_out(roster.create(request.auth, meetings.get_meeting(meeting_id), payload.model_dump()))


@router.patch("/meetings/{meeting_id}/delegates/{delegate_id}", response={200: DelegateOut, **ERRORS})
def update_delegate(request, meeting_id: int, delegate_id: int, payload: DelegatePatch):
    m = meetings.get_meeting(meeting_id)
    fields = payload.model_dump(exclude_unset=True)
    if fields.get("name", "") is None:
        raise DomainError("delegate_name_required", "Thiếu họ và tên đại biểu.")
    return delegate_out(roster.update(request.auth, m, delegate_id, fields))


@router.delete("/meetings/{meeting_id}/delegates/{delegate_id}", response={204: None, **ERRORS})
def delete_delegate(request, meeting_id: int, delegate_id: int):
    roster.remove(request.auth, meetings.get_meeting(meeting_id), delegate_id)
    return 204, None


@router.post("/meetings/{meeting_id}/import", response={201: ImportOut, **ERRORS})
def import_delegates(request, meeting_id: int, file: File[UploadedFile]):
    """A CSV or XLSX list (columns: họ và tên, chức vụ, đơn vị, điện thoại, email, điểm cầu): all or nothing,
    errors named by line."""
    # read at most one byte past the limit: the importer refuses it (a 1 GB upload is not read into memory)
    data = file.read(importer.MAX_BYTES + 1)
    rows = importer.import_file(request.auth, meetings.get_meeting(meeting_id), file.name or "", data)
    return 201, ImportOut(created=len(rows), delegates=[delegate_out(d) for d in rows])


@router.get("/meetings/{meeting_id}/delegates/{delegate_id}/link", response={200: LinkOut, **ERRORS})
def delegate_link(request, meeting_id: int, delegate_id: int):
    """The delegate's personal link and its QR code (an SVG)."""
    d = roster.get(request.auth, meetings.get_meeting(meeting_id), delegate_id)
    return links.link_out(d, _base(request))


@router.post("/meetings/{meeting_id}/delegates/{delegate_id}/revoke", response={200: LinkOut, **ERRORS})
def revoke_link(request, meeting_id: int, delegate_id: int):
    """Every link handed out to the delegate stops working; the new one."""
    d = roster.get(request.auth, meetings.get_meeting(meeting_id), delegate_id)
    tokens.revoke(d)
    transaction.on_commit(lambda: live.revoked(meeting_id, d.pk, d.token_version))
    return links.link_out(d, _base(request))


@router.get("/meetings/{meeting_id}/hall", response={200: HallOut, **ERRORS})
def hall_link(request, meeting_id: int):
    """The hall's QR code: delegates scan it with their own tablet to check in."""
    m = meetings.get_meeting(meeting_id)
    policy.check_chair(request.auth, m)
    return links.hall_out(m, _base(request))


@router.post("/meetings/{meeting_id}/send-links", response={200: SendOut, **ERRORS})
def send_links(request, meeting_id: int, delegate_id: int | None = None):
    """Send personal links ahead through the outgoing webhook (all delegates, or one)."""
    return SendOut(
        **links.send_links(request.auth, meetings.get_meeting(meeting_id), _base(request), delegate_id=delegate_id)
    )


# A room's terminal calls with its link's Bearer token: the API tries tokens before the session (confserver/api.py
# CookieSession), so a token-only POST from a browser is not refused csrf_failed.
@router.post("/meetings/{meeting_id}/delegates/{delegate_id}/checkin", response={200: CheckinOut, **ERRORS})
def mark_present(request, meeting_id: int, delegate_id: int):
    """The secretary (chair side) or the delegate's remote room's terminal (the clerk) marks them present."""
    m = meetings.get_meeting(meeting_id)
    user = request.auth
    d = Delegate.objects.select_related("room", "meeting").filter(pk=delegate_id, meeting=m).first()
    if access.is_chair_side(user, m):
        by = CheckedInBy.SECRETARY
    else:
        policy.check_terminal_can_join(user, m)
        if d is None or d.room_id != user.room_id:
            raise DomainError(
                "delegate_other_room", "Chỉ điểm danh được đại biểu dự tại điểm cầu của phòng mình.", status=403
            )
        by = CheckedInBy.CLERK
    if d is None:
        raise DomainError("delegate_not_found", f"Cuộc họp không có đại biểu số {delegate_id}.", status=404)
    ev = checkin.check_in(d, by, actor=user if by == CheckedInBy.SECRETARY else None)
    _tell(meeting_id, ev)
    return CheckinOut(delegate=delegate_out(d), quorum=QuorumOut(**checkin.quorum(m)), changed=ev is not None)


@router.put("/meetings/{meeting_id}/quorum", response={200: QuorumOut, **ERRORS})
def set_quorum(request, meeting_id: int, payload: QuorumRuleIn):
    """Present delegates must be more than numerator/denominator of all (default 1/2)."""
    m = meetings.get_meeting(meeting_id)
    policy.check_chair(request.auth, m)
    if payload.numerator >= payload.denominator:
        raise DomainError("quorum_rule_invalid", "Tỉ lệ đủ số đại biểu phải nhỏ hơn 1 (ví dụ 1/2, 2/3).")
    QuorumRule.objects.update_or_create(meeting=m, defaults=payload.model_dump())
    return QuorumOut(**checkin.quorum(m))


@router.get("/meetings/{meeting_id}/receipts", response={200: list[dict], **ERRORS})
def delegate_receipts(request, meeting_id: int):
    m = meetings.get_meeting(meeting_id)
    policy.check_chair(request.auth, m)
    return receipts.report(m)
