"""Tests stop what they start: a meeting that goes live in a test records through the in-process relay
(RECORDING_DEFAULT_ON), and when it ends the relay would start a real `finalize_recording` process, against
DATABASE_URL's database rather than the test's (tests/conftest.py, recordings_stay_in_the_test)."""

import pytest
from asgiref.sync import sync_to_async

from confserver.media import local
from confserver.recording import finalize
from confserver.recording import recorder as recorder_module
from confserver.signaling import control

from ..conftest import stop_leftover_recorders

pytestmark = pytest.mark.django_db(transaction=True)


def writing_recorders() -> set:
    """The recorders the process's one writer thread still serves (recording/recorder.py)."""
    with recorder_module._writer_thread._lock:
        return set(recorder_module._writer_thread._recorders)


async def test_an_ended_meeting_starts_no_finalize_process_and_records_under_the_tests_folder(world, settings):
    from confserver.accounts.models import User

    assert "var" not in settings.RECORDINGS_ROOT.parts[-3:]  # a folder of the test's, not var/recordings
    chair, _ = await sync_to_async(control.authorize)(
        await sync_to_async(User.objects.get)(username="host"), world.meeting_id
    )
    await control.set_state(chair, "live")
    assert world.meeting_id in local._recorders
    children = set(finalize._children)
    await control.set_state(chair, "ended")
    assert set(finalize._children) == children, "a finalize_recording process was started by a test"


async def test_recorders_a_test_leaves_are_stopped(world):
    from confserver.accounts.models import User

    chair, _ = await sync_to_async(control.authorize)(
        await sync_to_async(User.objects.get)(username="host"), world.meeting_id
    )
    before = writing_recorders()
    await control.set_state(chair, "live")
    started = writing_recorders() - before
    assert started and local._recorders[world.meeting_id] in started
    assert stop_leftover_recorders(local) == [world.meeting_id]
    assert all(r._done.is_set() for r in started), "a recorder left by the test was not stopped"
    assert not writing_recorders() - before and not local._relays and not local._recorders
