"""Agenda items of a meeting: the chair side edits them until the meeting ends."""

from datetime import datetime

from django.db import transaction

from confserver.errors import Conflict, DomainError, NotFound
from confserver.rooms import policy
from confserver.rooms.meetings import get_unit
from confserver.rooms.models import Meeting, MeetingState

from .models import AgendaItem

UNSET = object()


def lock_meeting(meeting_id: int) -> Meeting:
    """The meeting row, locked: agenda and document edits of one meeting go one at a time."""
    m = Meeting.objects.select_for_update().select_related("host_unit").filter(pk=meeting_id).first()
    if m is None:
        raise NotFound("meeting_not_found", f"Không có cuộc họp số {meeting_id}.")
    return m


def check_editable(user, meeting: Meeting) -> None:
    policy.check_chair(user, meeting)
    if meeting.state == MeetingState.ENDED:
        raise Conflict("meeting_ended", "Cuộc họp đã kết thúc, không sửa được chương trình và tài liệu.")


def get_item(item_id: int) -> AgendaItem:
    try:
        return AgendaItem.objects.select_related("meeting__host_unit", "presenter_unit").get(pk=item_id)
    except AgendaItem.DoesNotExist:
        raise NotFound("item_not_found", f"Không có nội dung họp số {item_id}.") from None


def items(meeting: Meeting) -> list[AgendaItem]:
    return list(meeting.agenda_items.select_related("presenter_unit").order_by("position", "id"))


def _check_plan(planned_minutes) -> None:
    if planned_minutes is not None and not 0 < planned_minutes <= 24 * 60:
        raise DomainError("bad_duration", "Thời lượng phải từ 1 đến 1440 phút.")


@transaction.atomic
def create_item(
    user,
    meeting: Meeting,
    *,
    title: str,
    presenter_unit: str | None = None,
    planned_start: datetime | None = None,
    planned_minutes: int | None = None,
) -> AgendaItem:
    """Append an item at the end of the agenda."""
    meeting = lock_meeting(meeting.pk)
    check_editable(user, meeting)
    _check_plan(planned_minutes)
    unit = get_unit(presenter_unit) if presenter_unit else None
    last = meeting.agenda_items.order_by("-position").values_list("position", flat=True).first() or 0
    return AgendaItem.objects.create(
        meeting=meeting,
        position=last + 1,
        title=title,
        presenter_unit=unit,
        planned_start=planned_start,
        planned_minutes=planned_minutes,
    )


@transaction.atomic
def update_item(
    user, item: AgendaItem, *, title=UNSET, presenter_unit=UNSET, planned_start=UNSET, planned_minutes=UNSET
) -> AgendaItem:
    """Change the given fields (None clears an optional one)."""
    meeting = lock_meeting(item.meeting_id)
    check_editable(user, meeting)
    item = AgendaItem.objects.select_related("presenter_unit").get(pk=item.pk)
    if title is not UNSET:
        item.title = title
    if presenter_unit is not UNSET:
        item.presenter_unit = get_unit(presenter_unit) if presenter_unit else None
    if planned_start is not UNSET:
        item.planned_start = planned_start
    if planned_minutes is not UNSET:
        item.planned_minutes = planned_minutes
    _check_plan(item.planned_minutes)
    item.save()
    return item


@transaction.atomic
def delete_item(user, item: AgendaItem) -> None:
    """Remove an item; its documents stay with the meeting, unattached."""
    meeting = lock_meeting(item.meeting_id)
    check_editable(user, meeting)
    item.delete()
    _renumber(items(meeting))


@transaction.atomic
def reorder(user, meeting: Meeting, item_ids: list[int]) -> list[AgendaItem]:
    """Put the items in the given order; `item_ids` must name every item exactly once."""
    meeting = lock_meeting(meeting.pk)
    check_editable(user, meeting)
    current = {i.id: i for i in items(meeting)}
    if len(item_ids) != len(set(item_ids)) or set(item_ids) != set(current):
        raise Conflict("bad_order", "Danh sách sắp xếp phải gồm đúng mỗi nội dung họp một lần.")
    return _renumber([current[i] for i in item_ids])


def _renumber(ordered: list[AgendaItem]) -> list[AgendaItem]:
    changed = []
    for pos, item in enumerate(ordered, start=1):
        if item.position != pos:
            item.position = pos
            changed.append(item)
    AgendaItem.objects.bulk_update(changed, ["position"])
    return ordered
