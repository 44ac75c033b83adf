"""Shared fixtures: real database (SQLite or PostgreSQL per DATABASE_URL), real data files."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

DATA = Path(__file__).resolve().parent.parent / "confserver" / "rooms" / "data"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Each phase's report on the test item (`item.report_call`...), for fixtures that keep pictures of a failure."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def needs_postgresql(reason: str) -> None:
    """Skip the calling test on the embedded default (SQLite): `reason` says what only PostgreSQL has."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip(reason)


# Django never closes an in-memory SQLite database's connection (that would drop the test database): what the tests
# that check a connection is handed back guard is PostgreSQL's pool.
KEPT_OPEN = "the in-memory SQLite test database keeps its connection open (Django ignores close() there)"


def failed(request) -> bool:
    """Did the test using this fixture fail (its setup or its body)? For fixtures' teardown."""
    node = request.node
    return any(getattr(getattr(node, f"report_{when}", None), "failed", False) for when in ("setup", "call"))


@pytest.fixture(autouse=True)
def recordings_stay_in_the_test(settings, monkeypatch, tmp_path_factory):
    """Every meeting that goes live records (RECORDING_DEFAULT_ON), here in the in-process relay: a test's
    recordings go to a folder of its own, not var/recordings; a meeting that ends is not finalised (a real
    `finalize_recording` process would run against DATABASE_URL's database, not the test's); the recorders
    a test left running (their writer threads) are stopped when it ends, and its relay-process clients
    forgotten. Tests of finalising
    replace `local.after_meeting` themselves or call `finalize` directly."""
    from confserver.media import local, remote

    settings.RECORDINGS_ROOT = tmp_path_factory.mktemp("recordings")
    monkeypatch.setattr(local, "after_meeting", lambda meeting_id: None)
    yield
    stop_leftover_recorders(local)
    # Relay-process clients are kept per event loop, by id(loop): a later test's loop may get a dead loop's id
    # and with it a client whose reply reader never runs (every call then times out as relay_unavailable).
    remote._clients.clear()
    # A player's grants (recording/export_api.py) last PLAYER_GRANT_S per (user id, meeting id) in the process: on
    # SQLite a rolled-back test's ids come again in the next one, whose reviewer was then served the last file.
    from confserver.recording import export_api

    export_api._grants.clear()


@pytest.fixture(autouse=True)
def sync_helpers_hand_their_connection_back():
    """After each test, asgiref's one thread for `sync_to_async` (thread_sensitive: the tests' own ORM helpers,
    `@sync_to_async def ...`) closes its database connections, as Django closes a request's at its end: a plain
    sync_to_async never does, and the connection outlived the test and the test database ("is being accessed by
    other users" when pytest drops it). The tests' helpers run there, never in the test's own thread."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    executor = SyncToAsync.single_thread_executor
    if getattr(executor, "_threads", None):  # started by this or an earlier test
        executor.submit(connections.close_all).result(timeout=30)


def stop_leftover_recorders(local) -> list[int]:
    """Stop the recorders (and forget the relays) a test left in `local`; the meetings they were for. Their
    event loop is gone by now: a recorder's writer thread is stopped directly (it closes its segment)."""
    left = sorted(set(local._recorders) | set(local._relays))
    recorders = list(local._recorders.values())
    local._recorders.clear()
    for relay in local._relays.values():
        try:
            relay.stop_recording()
        except Exception:  # a relay of a closed loop: it is dropped anyway
            pass
    local._relays.clear()
    local._recorded.clear()
    local._meeting_locks.clear()
    for recorder in recorders:
        recorder.stop()
    return left


@pytest.fixture
def hue2025(db):
    """Huế in the 2025 structure (province → 40 communes), one room per unit."""
    from confserver.rooms.importer import ensure_default_rooms, import_file

    import_file(DATA / "hue-2025.jsonl")
    ensure_default_rooms()
    from confserver.rooms.models import AdminUnit

    return AdminUnit.objects.get(code="46")


@pytest.fixture
def hue_pre2025(db):
    """Huế in the pre-2025 structure (province → 9 districts → 134 communes)."""
    from confserver.rooms.importer import ensure_default_rooms, import_file

    import_file(DATA / "hue-pre2025.jsonl")
    ensure_default_rooms()
    from confserver.rooms.models import AdminUnit

    return AdminUnit.objects.get(code="46")


@pytest.fixture
def make_user(db):
    from confserver.accounts.models import User

    def make(username, role, unit=None, room=None):
        return User.objects.create_user(username=username, password="pw-123456", role=role, unit=unit, room=room)

    return make


@pytest.fixture
def when():
    start = timezone.now() + timedelta(hours=1)
    return start, start + timedelta(hours=2)
