"""A vote opening reaches each delegate through the outgoing webhook (issue 14, item 7): one `vote.opened` call with
every delegate of the meeting and how to reach them; the messaging gateway behind the webhook sends SMS, e-mail
or a chat message. Nothing is sent when no webhook is configured."""

from django.utils import timezone

from confserver.agenda import webhook


def vote_opened(v) -> None:
    """Queue the notification in the opening's transaction (the webhook sends it after commit)."""
    from confserver.delegates.models import Delegate

    if not webhook.url():
        return
    m = v.meeting
    webhook.enqueue(
        {
            "type": "vote.opened",
            "meeting": {"id": m.id, "title": m.title},
            "vote": {
                "id": v.id,
                "question": v.question,
                "secret": v.secret,
                "rule": v.rule,
                "closes_at": v.closes_at.isoformat(),
                "agenda_item": {"id": v.agenda_item.id, "title": v.agenda_item.title} if v.agenda_item else None,
            },
            "text": f"Biểu quyết: {v.question} (đến {timezone.localtime(v.closes_at).strftime('%H:%M')}).",
            "delegates": [
                {"id": d["id"], "name": d["name"], "phone": d["phone"], "email": d["email"]}
                for d in Delegate.objects.filter(meeting_id=m.id).values("id", "name", "phone", "email")
            ],
        }
    )
