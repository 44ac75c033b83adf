"""The request an audit event is put on: the one being served, never one whose response was already returned
(a task or thread started while serving copies the context and may record long after)."""

import asyncio
import contextvars

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.http import HttpResponse

from confserver import audit
from confserver.accounts.models import Role
from confserver.audit.context import RequestContext
from confserver.audit.models import AuditEvent

UA = "Mozilla/5.0 (X11; Linux x86_64) Chrome/156"


def request_of(rf, user):
    request = rf.get("/api/meetings/1/state", REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT=UA)
    request.user = user
    return request


def who(action):
    [e] = AuditEvent.objects.filter(action=action)
    return e.user_id, e.ip, e.user_agent


@pytest.mark.django_db
def test_what_a_request_left_behind_records_after_it_was_served_is_not_on_its_account(rf, hue2025, make_user):
    host = make_user("chutri-thu", Role.HOST, unit=hue2025)
    left = []

    def view(request):
        audit.record("test.during")
        left.append(contextvars.copy_context())  # what asyncio.create_task and a thread pool's submit keep
        return HttpResponse("ok")

    RequestContext(view)(request_of(rf, host))
    left[0].run(audit.record, "test.after", data={"room_id": None})
    assert who("test.during") == (host.pk, "203.0.113.9", UA)
    assert who("test.after") == (None, None, "")


@pytest.mark.django_db(transaction=True)
async def test_a_task_started_while_serving_records_without_the_request(rf, hue2025, make_user):
    host = await sync_to_async(make_user)("chutri-thu", Role.HOST, unit=hue2025)
    served = asyncio.Event()
    tasks = []

    async def background():  # e.g. a relay or recorder started by the chair's request, failing later
        await served.wait()
        await sync_to_async(audit.record)("test.after")

    async def view(request):
        await sync_to_async(audit.record)("test.during")
        tasks.append(asyncio.ensure_future(background()))
        return HttpResponse("ok")

    await RequestContext(view)(request_of(rf, host))
    served.set()
    await tasks[0]
    assert await sync_to_async(who)("test.during") == (host.pk, "203.0.113.9", UA)
    assert await sync_to_async(who)("test.after") == (None, None, "")
    await sync_to_async(connections.close_all)()  # the executor thread's connection, before the test database goes
