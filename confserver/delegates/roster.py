"""The meeting's list of delegates, kept by the chair side: add, change, remove one, or import a list.

Every function checks the chair first (rooms.policy.check_chair) and raises a coded DomainError for bad
input, changing nothing.
"""

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from confserver.errors import Conflict, DomainError, NotFound
from confserver.rooms import policy
from confserver.rooms.models import Meeting, Participation

from .models import Delegate, Seat

FIELDS = ("name", "position", "unit", "phone", "email", "seat", "room_id")
MAX_LENGTH = {"name": 200, "position": 200, "unit": 300, "email": 254}  # the model's columns
LABELS = {"name": "Họ và tên", "position": "Chức vụ", "unit": "Đơn vị công tác", "email": "Thư điện tử"}


def clean(meeting: Meeting, data: dict, *, rooms: dict | None = None) -> dict:
    """Checked, normalised fields of one delegate (rooms: invited room id -> room, fetched once by import)."""
    out: dict = {
        k: " ".join(str(data.get(k) if data.get(k) is not None else "").split())
        for k in ("name", "position", "unit", "phone", "email")
    }
    if not out["name"]:
        raise DomainError("delegate_name_required", "Thiếu họ và tên đại biểu.")
    for field, label in LABELS.items():  # an imported line is not checked by a schema: the columns' sizes here
        if len(out[field]) > MAX_LENGTH[field]:
            raise DomainError("delegate_field_too_long", f"{label} dài quá {MAX_LENGTH[field]} ký tự.")
    out["phone"] = "".join(c for c in out["phone"] if c.isdigit() or c == "+")
    if out["phone"] and (
        not 8 <= len(out["phone"].lstrip("+")) <= 15 or "+" in out["phone"].lstrip("+") or len(out["phone"]) > 16
    ):
        raise DomainError("delegate_phone_invalid", f"Số điện thoại “{data.get('phone')}” không hợp lệ.")
    out["email"] = out["email"].lower()
    if out["email"]:
        try:
            validate_email(out["email"])
        except ValidationError:
            raise DomainError("delegate_email_invalid", f"Thư điện tử “{out['email']}” không hợp lệ.") from None
    seat = data.get("seat") or (Seat.ROOM if data.get("room_id") else Seat.HALL)
    if seat not in Seat.values:
        raise DomainError("delegate_seat_invalid", "Chỗ ngồi phải là “hall” (hội trường) hoặc “room” (điểm cầu).")
    room_id = data.get("room_id")
    if seat == Seat.ROOM:
        if not room_id:
            raise DomainError("delegate_room_required", "Đại biểu dự tại điểm cầu phải có phòng họp (điểm cầu).")
        invited = (
            rooms
            if rooms is not None
            else {
                p.room_id: p.room
                for p in Participation.objects.filter(meeting=meeting, room_id=room_id).select_related("room")
            }
        )
        if room_id not in invited:
            raise DomainError("delegate_room_not_invited", f"Phòng số {room_id} không được mời vào cuộc họp này.")
    else:
        room_id = None
    out["seat"], out["room_id"] = seat, room_id
    return out


def _conflict(exc: IntegrityError) -> DomainError:
    # PostgreSQL names the constraint; SQLite (the embedded default) names its columns instead
    text = str(exc)
    sqlite_unique = "UNIQUE constraint failed" in text  # not a NOT NULL failure on the same column
    if "delegate_unique_phone" in text or sqlite_unique and "delegates_delegate.phone" in text:
        return Conflict("delegate_duplicate", "Số điện thoại này đã có đại biểu khác trong cuộc họp.")
    if "delegate_unique_email" in text or sqlite_unique and "delegates_delegate.email" in text:
        return Conflict("delegate_duplicate", "Thư điện tử này đã có đại biểu khác trong cuộc họp.")
    raise exc


def listing(user, meeting: Meeting) -> list[Delegate]:
    policy.check_chair(user, meeting)
    return list(Delegate.objects.filter(meeting=meeting).select_related("room").order_by("id"))


def get(user, meeting: Meeting, delegate_id: int) -> Delegate:
    policy.check_chair(user, meeting)
    d = Delegate.objects.select_related("room", "meeting").filter(pk=delegate_id, meeting=meeting).first()
    if d is None:
        raise NotFound("delegate_not_found", f"Cuộc họp không có đại biểu số {delegate_id}.")
    return d


def create(user, meeting: Meeting, data: dict) -> Delegate:
    policy.check_chair(user, meeting)
    fields = clean(meeting, data)
    try:
        with transaction.atomic():
            return Delegate.objects.create(meeting=meeting, **fields)
    except IntegrityError as exc:
        raise _conflict(exc) from None


def update(user, meeting: Meeting, delegate_id: int, data: dict) -> Delegate:
    d = get(user, meeting, delegate_id)
    merged = {**{k: getattr(d, k) for k in FIELDS}, **data}
    if data.get("seat") == Seat.HALL:
        merged["room_id"] = None
    fields = clean(meeting, merged)
    for k, v in fields.items():
        setattr(d, k, v)
    try:
        with transaction.atomic():
            d.save(update_fields=[*fields])
    except IntegrityError as exc:
        raise _conflict(exc) from None
    d.refresh_from_db()
    return d


def remove(user, meeting: Meeting, delegate_id: int) -> None:
    d = get(user, meeting, delegate_id)
    if d.checked_in_at is not None:
        raise Conflict("delegate_checked_in", "Đại biểu đã điểm danh có mặt; không xóa khỏi danh sách được.")
    try:
        with transaction.atomic():
            d.delete()
    except ProtectedError:  # votes.Ballot.delegate: a cast ballot is never lost
        raise has_ballots() from None


def has_ballots() -> DomainError:
    return Conflict(
        "delegate_has_ballots", "Đại biểu đã bỏ phiếu biểu quyết; không xóa được vì phiếu đã bỏ phải được giữ nguyên."
    )
