"""Issue 13, item 4 on the meeting socket: a host's session signed in by the password alone (before the setting, or
any path that skipped the code) is refused like no session; the same session once it has passed the code joins;
room links are never asked. The real ASGI app (origin check, session, consumer) over the configured layer."""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.sessions.backends.db import SessionStore

from confserver.accounts.models import User
from confserver.twofactor import factor
from confserver.twofactor.models import TOTPDevice
from tests.signaling.conftest import connect, live_isolation, world  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def pass_the_code(cookie):
    host = User.objects.get(username="host")
    device = factor.start_enrolment(host)
    TOTPDevice.objects.filter(pk=device.pk).update(confirmed_at="2026-01-01T00:00:00Z")
    session = SessionStore(session_key=cookie)
    session[factor.PASSED] = device.pk
    session.save()


async def test_a_session_without_the_code_is_refused_on_the_socket_then_joins_once_passed(world, settings):
    settings.OTP_REQUIRED_ROLES = ["host"]
    chair = await connect(world.meeting_id, cookie=world.host_cookie)
    refused = await chair.recv()
    assert refused["type"] == "error" and refused["code"] == "unauthenticated", refused
    await chair.close()

    room = await connect(world.meeting_id, token=world.token_a)  # a room link: never asked
    await room.join()

    await pass_the_code(world.host_cookie)
    chair = await connect(world.meeting_id, cookie=world.host_cookie)
    await chair.join()
    await chair.close()
    await room.close()
