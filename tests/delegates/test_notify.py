"""Notifications to delegates through the outgoing webhook (issue 14, item 7): links sent ahead, a schedule
change, papers published; each one a WebhookDelivery row per delegate with a phone or e-mail."""

from datetime import timedelta

from django.test import Client

from confserver.agenda import publish
from confserver.agenda.models import WebhookDelivery
from confserver.delegates import roster, tokens
from confserver.rooms import planning


def _calls(kind):
    return [d.payload for d in WebhookDelivery.objects.order_by("id") if d.payload.get("type") == kind]


def test_links_sent_ahead(world, people, settings):
    settings.AGENDA_WEBHOOK_URL = "http://127.0.0.1:9/hook"
    roster.create(world.users["host"], world.meeting, {"name": "Không Liên Lạc"})  # no phone, no e-mail
    c = Client()
    c.force_login(world.users["host"])
    r = c.post(f"/api/delegates/meetings/{world.meeting.pk}/send-links")
    assert r.json() == {"sent": 3, "failed": 0, "skipped": 1}
    calls = _calls("delegate.link")
    assert sorted(x["delegate"]["name"] for x in calls) == ["Lê Văn Cường", "Nguyễn Văn An", "Trần Thị Bình"]
    for x in calls:
        token = x["url"].split("#token=")[1]
        assert tokens.verify(token, world.meeting.pk).pk == x["delegate"]["id"]
        assert x["meeting"]["title"] == world.meeting.title


def test_sending_without_a_webhook_is_refused(world, people, settings):
    settings.AGENDA_WEBHOOK_URL = ""
    c = Client()
    c.force_login(world.users["host"])
    r = c.post(f"/api/delegates/meetings/{world.meeting.pk}/send-links")
    assert (r.status_code, r.json()["code"]) == (409, "webhook_not_configured")
    assert not WebhookDelivery.objects.exists()
    # and a room terminal may not send them
    t = Client()
    t.force_login(world.users["term_in"])
    settings.AGENDA_WEBHOOK_URL = "http://127.0.0.1:9/hook"
    assert t.post(f"/api/delegates/meetings/{world.meeting.pk}/send-links").status_code == 403
    assert not WebhookDelivery.objects.exists()


def test_schedule_change_and_published_papers_reach_each_delegate(world, people, item, settings):
    from tests.agenda.conftest import make_pdf

    settings.AGENDA_WEBHOOK_URL = "http://127.0.0.1:9/hook"
    later = world.meeting.scheduled_start + timedelta(days=1)
    planning.update_meeting(
        world.users["host"], world.meeting.pk, scheduled_start=later, scheduled_end=later + timedelta(hours=2)
    )
    calls = _calls("delegate.scheduled")
    assert len(calls) == 3 and {x["meeting"]["scheduled_start"] for x in calls} == {later.isoformat()}
    assert calls[0]["changed"] == ["scheduled_end", "scheduled_start"]
    world.upload(make_pdf(2), title="Tờ trình")
    publish.publish(world.users["host"], world.meeting)
    calls = _calls("delegate.papers_published")
    assert len(calls) == 3 and all(x["documents"] == 1 and "#token=" in x["url"] for x in calls)
    # the other meeting's delegate heard nothing
    assert all(x["delegate"]["id"] != people["other"].pk for x in _calls("delegate.scheduled") + calls)
