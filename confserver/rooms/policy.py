"""Who may do what: every rule raises a coded Forbidden, or returns a scoped queryset.

Hosts act within their unit's subtree, room terminals only for their room and
the meetings it is invited to, reviewers read their subtree, admins do all.
"""

from django.db.models import QuerySet

from confserver.accounts.models import Role
from confserver.errors import Forbidden

from .models import AdminUnit, Meeting, Participation, Room


def _unit_path(user) -> str | None:
    return user.unit.path if user.unit_id else None


def in_scope(user, unit: AdminUnit) -> bool:
    """True when `unit` lies in the subtree of the user's own unit (admins: everywhere)."""
    if user.role == Role.ADMIN:
        return True
    path = _unit_path(user)
    return path is not None and unit.path.startswith(path)


def check_host_for_unit(user, unit: AdminUnit) -> None:
    """Only a host (or admin) whose subtree holds `unit` may create/run its meetings."""
    if user.role not in (Role.HOST, Role.ADMIN):
        raise Forbidden("not_host", "Chỉ tài khoản điều hành mới được tổ chức cuộc họp.")
    if not in_scope(user, unit):
        raise Forbidden("outside_subtree", f"Đơn vị {unit.code} nằm ngoài phạm vi quản lý của bạn.")


def check_chair(user, meeting: Meeting) -> None:
    """The chair side of a meeting: a host whose subtree holds the host unit."""
    check_host_for_unit(user, meeting.host_unit)


def visible_meetings(user) -> QuerySet[Meeting]:
    qs = Meeting.objects.select_related("host_unit")
    if user.role == Role.ADMIN:
        return qs
    if user.role == Role.TERMINAL:
        return qs.filter(participations__room_id=user.room_id)
    path = _unit_path(user)
    if path is None:
        return qs.none()
    return qs.filter(host_unit__path__startswith=path)


def check_can_view(user, meeting: Meeting) -> None:
    if not visible_meetings(user).filter(pk=meeting.pk).exists():
        raise Forbidden("not_visible", "Bạn không có quyền xem cuộc họp này.")


def not_invited(room_name: str) -> Forbidden:
    return Forbidden("room_not_invited", f"Phòng {room_name} không được mời vào cuộc họp này.")


def check_room_invited(room: Room, meeting: Meeting) -> Participation:
    """A room may take part only in meetings it is invited to."""
    try:
        return Participation.objects.select_related("room__unit").get(meeting=meeting, room=room)
    except Participation.DoesNotExist:
        raise not_invited(room.name) from None


def check_terminal_can_join(user, meeting: Meeting) -> Participation:
    if user.role != Role.TERMINAL or user.room_id is None:
        raise Forbidden("not_terminal", "Chỉ máy trạm của phòng họp mới được vào họp với tư cách phòng.")
    return check_room_invited(user.room, meeting)
