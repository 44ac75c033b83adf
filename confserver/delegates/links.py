"""Personal links and QR codes of delegates, the hall's QR code, and sending links ahead through the outgoing
webhook (agenda/webhook.py): `{"type": "delegate.link", meeting, delegate, url, expires_at}` per delegate; the
receiver (the province's SMS, e-mail or chat gateway) sends it to the person's phone or e-mail."""

from datetime import UTC, datetime

from django.db import transaction

from confserver.errors import Conflict, NotFound
from confserver.rooms import policy
from confserver.rooms.callback import qr_svg
from confserver.rooms.models import Meeting

from . import tokens
from .models import Delegate


def link_url(delegate: Delegate, base_url: str) -> tuple[str, str]:
    """(absolute url, token): the token rides the URL fragment, which browsers never send (no access log)."""
    token = tokens.issue(delegate)
    return f"{base_url}/web/delegate.html?meeting={delegate.meeting_id}#token={token}", token


def _expires(token: str) -> str:
    return datetime.fromtimestamp(tokens.read(token)["e"], tz=UTC).isoformat()


def link_out(delegate: Delegate, base_url: str) -> dict:
    url, token = link_url(delegate, base_url)
    return {
        "delegate_id": delegate.pk,
        "name": delegate.name,
        "token": token,
        "url": url,
        "expires_at": _expires(token),
        "qr_svg": qr_svg(url),
    }


def hall_out(meeting: Meeting, base_url: str) -> dict:
    code = tokens.hall_code(meeting)
    url = f"{base_url}/web/delegate.html?meeting={meeting.pk}&hall={code}"
    return {"code": code, "url": url, "qr_svg": qr_svg(url)}


def meeting_brief(meeting: Meeting) -> dict:
    return {
        "id": meeting.pk,
        "title": meeting.title,
        "host_unit": meeting.host_unit.code,
        "scheduled_start": meeting.scheduled_start.isoformat(),
        "scheduled_end": meeting.scheduled_end.isoformat(),
        "place": meeting.place,
    }


def delegate_brief(d: Delegate) -> dict:
    return {
        "id": d.pk,
        "name": d.name,
        "position": d.position,
        "unit": d.unit,
        "phone": d.phone,
        "email": d.email,
        "seat": d.seat,
        "room": d.room.name if d.room is not None else None,
    }


@transaction.atomic
def send_links(user, meeting: Meeting, base_url: str, *, delegate_id: int | None = None) -> dict:
    """Each delegate (or one) with a phone or e-mail gets their link through the webhook; {sent, failed, skipped}
    (failed: 0 here, the deliveries are retried in the background and recorded in WebhookDelivery)."""
    from confserver.agenda import webhook

    policy.check_chair(user, meeting)
    if not webhook.url():
        raise Conflict(
            "webhook_not_configured",
            "Chưa cấu hình địa chỉ nhận thông báo (AGENDA_WEBHOOK_URL) nên chưa gửi được liên kết; "
            "hãy in hoặc chiếu mã QR của từng đại biểu.",
        )
    qs = Delegate.objects.filter(meeting=meeting).select_related("room").order_by("id")
    if delegate_id is not None:
        qs = qs.filter(pk=delegate_id)
        if not qs.exists():
            raise NotFound("delegate_not_found", f"Cuộc họp không có đại biểu số {delegate_id}.")
    sent = skipped = 0
    brief = meeting_brief(meeting)
    for d in qs:
        if not (d.phone or d.email):
            skipped += 1
            continue
        url, token = link_url(d, base_url)
        webhook.enqueue(
            {
                "type": "delegate.link",
                "meeting": brief,
                "delegate": delegate_brief(d),
                "url": url,
                "expires_at": _expires(token),
                "sent_by": user.username,
            }
        )
        sent += 1
    return {"sent": sent, "failed": 0, "skipped": skipped}


def notify_all(meeting: Meeting, kind: str, base_url: str | None = None, **extra) -> int:
    """One webhook call per delegate with a phone or e-mail: `{"type": "delegate.<kind>", meeting, delegate,
    url?, ...extra}` (kind: "scheduled", "papers_published", and the votes' "vote_opened"). Returns how many."""
    from confserver.agenda import webhook

    if not webhook.url():
        return 0
    brief = meeting_brief(meeting)
    n = 0
    for d in Delegate.objects.filter(meeting=meeting).select_related("room").order_by("id"):
        if not (d.phone or d.email):
            continue
        payload = {"type": f"delegate.{kind}", "meeting": brief, "delegate": delegate_brief(d), **extra}
        if base_url:
            payload["url"] = link_url(d, base_url)[0]
        webhook.enqueue(payload)
        n += 1
    return n
