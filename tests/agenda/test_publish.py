"""Publishing the agenda: the stored publication, the event for the rooms, the webhook
received by a real HTTP server on 127.0.0.1, retries; and the read receipts."""

import hashlib
import hmac
import io
import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import call_command
from django.utils import timezone

from confserver.agenda import events, publish, receipts, webhook
from confserver.agenda.models import Publication, WebhookDelivery
from confserver.errors import DomainError, Forbidden
from confserver.rooms import tokens

from .conftest import make_pdf


class Receiver:
    """A tiny webhook receiver: answers each POST with the next status of `statuses`."""

    def __init__(self, statuses=(200,), delay=0.0):
        self.statuses, self.delay, self.received = list(statuses), delay, []
        self.got = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(outer.delay)
                outer.received.append(
                    {
                        "path": self.path,
                        "type": self.headers["Content-Type"],
                        "body": body,
                        "sig": self.headers.get("X-Confserver-Signature"),
                    }
                )
                status = outer.statuses.pop(0) if len(outer.statuses) > 1 else outer.statuses[0]
                self.send_response(status)
                self.end_headers()
                outer.got.set()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/agenda"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def receiver():
    made = []

    def make(**kw):
        made.append(Receiver(**kw))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture
def docs(world, item):
    public = world.upload(make_pdf(3, seed=1), title="Báo cáo công khai", item_id=item.id)
    secret = world.upload(make_pdf(2, seed=2), title="Phương án nhân sự", item_id=item.id, confidential=True)
    return public, secret


def test_publish_stores_and_returns_the_event_without_confidential_documents(world, item, docs):
    public, secret = docs
    pub, event = publish.publish(world.users["host"], world.meeting)
    assert events.AgendaPublishedEvent.model_validate(event).event == "agenda_published"
    assert event["meeting_id"] == world.meeting.id and event["publication"] == 1 == pub.number
    assert [i["title"] for i in event["items"]] == [item.title]
    assert [(d["document_id"], d["version_id"]) for d in event["documents"]] == [(public.document_id, public.id)]
    assert event["confidential_documents"] == 1
    assert "Phương án nhân sự" not in json.dumps(event, ensure_ascii=False)
    assert pub.snapshot == event
    assert world.meeting.timeline.filter(kind="agenda_published").exists()
    # publishing again after a change is publication 2
    world.upload(make_pdf(1, seed=3), title="Phụ lục")
    pub2, event2 = publish.publish(world.users["host"], world.meeting)
    assert pub2.number == 2 and len(event2["documents"]) == 2
    assert not WebhookDelivery.objects.exists()  # no webhook configured


def test_publish_is_for_the_chair_and_needs_an_agenda(world):
    with pytest.raises(DomainError) as err:
        publish.publish(world.users["host"], world.meeting)
    assert err.value.code == "agenda_empty"
    for who in ("term_in", "reviewer", "hanoi_host"):
        with pytest.raises(Forbidden):
            publish.publish(world.users[who], world.meeting)
    assert not Publication.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_webhook_is_received_without_blocking_the_request(world, docs, settings, receiver, client):
    public, secret = docs
    hook = receiver(delay=1.0)
    settings.AGENDA_WEBHOOK_URL = hook.url
    client.force_login(world.users["host"])
    t0 = time.monotonic()
    r = client.post(f"/api/agenda/meetings/{world.meeting.id}/publish")
    took = time.monotonic() - t0
    assert r.status_code == 201, r.content
    assert took < 0.9  # the receiver takes 1 s to answer; the request did not wait for it
    assert hook.got.wait(10) and webhook.wait_idle(10)
    [got] = hook.received
    assert got["path"] == "/hooks/agenda" and got["type"].startswith("application/json") and got["sig"] is None
    body = json.loads(got["body"])
    assert body["type"] == "agenda.published" and body["meeting"]["id"] == world.meeting.id
    assert [d["version_id"] for d in body["documents"]] == [public.id]
    assert body["documents"][0]["url"] == f"/api/agenda/versions/{public.id}/file"
    assert "Phương án nhân sự".encode() not in got["body"] and f"/versions/{secret.id}/".encode() not in got["body"]
    d = WebhookDelivery.objects.get()
    assert d.delivered_at is not None and d.attempts == 1 and d.last_status == 200


def test_failed_webhook_is_recorded_and_retried_later(world, docs, settings, receiver):
    hook = receiver(statuses=(500, 200))
    settings.AGENDA_WEBHOOK_URL = hook.url
    settings.AGENDA_WEBHOOK_SECRET = "khoá bí mật"
    pub, _ = publish.publish(world.users["host"], world.meeting)
    d = WebhookDelivery.objects.get(publication=pub)
    assert webhook.deliver(d.id) is False
    d.refresh_from_db()
    assert d.attempts == 1 and d.last_status == 500 and d.last_error == "HTTP 500" and d.delivered_at is None
    assert d.next_attempt_at > timezone.now() + timedelta(seconds=20)
    assert webhook.deliver_due() == 0  # not due yet
    WebhookDelivery.objects.filter(pk=d.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    out = io.StringIO()
    call_command("agenda_webhooks", stdout=out)  # what cron runs
    assert "delivered 1" in out.getvalue()
    d.refresh_from_db()
    assert d.delivered_at is not None and d.attempts == 2 and len(hook.received) == 2
    body = hook.received[-1]["body"]
    assert hook.received[-1]["sig"] == "sha256=" + hmac.new("khoá bí mật".encode(), body, hashlib.sha256).hexdigest()


def test_unreachable_webhook_gives_up_after_max_attempts(world, docs, settings, receiver):
    hook = receiver()
    dead_url = hook.url
    hook.close()
    settings.AGENDA_WEBHOOK_URL = dead_url
    pub, _ = publish.publish(world.users["host"], world.meeting)
    d = WebhookDelivery.objects.get(publication=pub)
    for _ in range(webhook.MAX_ATTEMPTS):
        assert webhook.deliver(d.id) is False
    d.refresh_from_db()
    assert d.attempts == webhook.MAX_ATTEMPTS and d.next_attempt_at is None and d.last_error


def bearer(user, meeting):
    return {"HTTP_AUTHORIZATION": f"Bearer {tokens.make_room_token(user, meeting)}"}


def test_read_receipts_per_room_and_document(world, docs, client):
    public, secret = docs
    publish.publish(world.users["host"], world.meeting)
    t_in, t_host = bearer(world.users["term_in"], world.meeting), bearer(world.users["term_host"], world.meeting)
    assert client.get(f"/api/agenda/versions/{public.id}/pages/1?width=480", **t_in).status_code == 200
    assert client.get(f"/api/agenda/versions/{public.id}/pages/2?width=480", **t_in).status_code == 200
    assert client.get(f"/api/agenda/versions/{public.id}/file", **t_in).status_code == 200
    assert client.get(f"/api/agenda/versions/{secret.id}/file", **t_host).status_code == 200
    client.force_login(world.users["host"])
    assert client.get(f"/api/agenda/versions/{public.id}/file").status_code == 200  # the chair leaves no receipt
    r = client.get(f"/api/agenda/meetings/{world.meeting.id}/receipts")
    assert r.status_code == 200, r.content
    rep = r.json()
    by_version = {d["version_id"]: d for d in rep["documents"]}
    pub_row = by_version[public.id]
    assert pub_row["rooms_opened"] == 1 and pub_row["rooms_total"] == 2
    [opened] = pub_row["opened_by"]
    # three fetches in a row are one opening
    assert opened["room_id"] == world.room_in.id and opened["count"] == 1
    assert opened["first_opened_at"] <= opened["last_opened_at"]
    assert [o["room_id"] for o in by_version[secret.id]["opened_by"]] == [world.users["term_host"].room_id]
    rooms = {x["room_id"]: x for x in rep["rooms"]}
    assert rooms[world.room_in.id]["current_opened"] == 1 and rooms[world.room_in.id]["current_total"] == 2
    assert rooms[world.users["term_host"].room_id]["current_opened"] == 1
    client.logout()
    r = client.get(f"/api/agenda/meetings/{world.meeting.id}/receipts", **t_in)
    assert r.status_code == 403 and r.json()["code"] == "not_host"


def test_a_later_reading_is_a_new_opening(world, docs, monkeypatch):
    from confserver.agenda import documents
    from confserver.agenda.models import ReadReceipt

    monkeypatch.setattr(receipts, "WRITE_EVERY", 0.0)  # write every fetch: this test moves time by hand
    public, _ = docs
    publish.publish(world.users["host"], world.meeting)
    documents.open_version(world.users["term_in"], public)
    documents.open_version(world.users["term_in"], public)
    r = ReadReceipt.objects.get()
    assert r.count == 1
    earlier = timezone.now() - receipts.SESSION_GAP - timedelta(minutes=1)
    ReadReceipt.objects.update(first_opened_at=earlier, last_opened_at=earlier)
    documents.open_version(world.users["term_in"], public)
    r.refresh_from_db()
    assert r.count == 2 and r.first_opened_at == earlier and r.last_opened_at > earlier


def test_receipts_of_an_older_version_stay_with_it(world, docs):
    from confserver.agenda import documents

    public, _ = docs
    publish.publish(world.users["host"], world.meeting)
    documents.open_version(world.users["term_in"], public)
    v2 = documents.upload_version(
        world.users["host"], public.document, io.BytesIO(make_pdf(2, seed=5)), filename="v2.pdf"
    )
    rep = receipts.report(world.users["host"], world.meeting)
    rows = {d["version_id"]: d for d in rep["documents"]}
    assert rows[public.id]["rooms_opened"] == 1 and not rows[public.id]["is_current"]
    assert rows[v2.id]["rooms_opened"] == 0 and rows[v2.id]["is_current"]
    assert {r["room_id"]: r["current_opened"] for r in rep["rooms"]}[world.room_in.id] == 0
