"""A vote's opening reaches each delegate through the outgoing webhook (issue 14, item 7)."""

import pytest

from confserver.agenda.models import WebhookDelivery
from confserver.votes import voting


@pytest.mark.django_db
def test_vote_opened_is_queued_for_the_webhook_with_every_delegate(hall, settings):
    settings.AGENDA_WEBHOOK_URL = "http://127.0.0.1:9/hook"
    v = voting.open_vote(
        hall.host,
        hall.meeting,
        question="Thông qua chương trình kỳ họp",
        agenda_item_id=None,
        secret=True,
        rule="half_all",
        limit_s=90,
    )
    (d,) = WebhookDelivery.objects.all()
    p = d.payload
    assert p["type"] == "vote.opened" and p["vote"]["id"] == v.pk and p["vote"]["secret"] is True
    assert p["meeting"] == {"id": hall.meeting.pk, "title": hall.meeting.title}
    assert sorted(x["id"] for x in p["delegates"]) == sorted([hall.present.pk, hall.absent.pk, hall.remote.pk])
    assert p["text"].startswith("Biểu quyết: Thông qua chương trình kỳ họp")


@pytest.mark.django_db
def test_no_webhook_configured_sends_nothing(hall, settings):
    settings.AGENDA_WEBHOOK_URL = ""
    voting.open_vote(
        hall.host, hall.meeting, question="Câu hỏi", agenda_item_id=None, secret=False, rule="half_all", limit_s=90
    )
    assert not WebhookDelivery.objects.exists()
