"""Serving recordings (issue 10, items 6 and 10): who may see them, byte ranges, X-Accel-Redirect, the access log.
Real database, Django's test client; the segment's file is plain bytes (serving does not read its contents)."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from confserver.accounts.models import Role
from confserver.recording.models import AccessAction, RecordingAccess, Segment, SegmentState
from confserver.rooms.models import AdminUnit, Meeting, MeetingState, Room

DATA = bytes(range(256)) * 40 + b"tail"  # 10,244 bytes, every offset distinguishable enough


@pytest.fixture
def rec(settings, tmp_path, hue2025, make_user):
    settings.RECORDINGS_ROOT = tmp_path / "recordings"
    settings.RECORDINGS_ACCEL_PREFIX = ""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    hanoi = AdminUnit.objects.create(
        code="01",
        name="Thành phố Hà Nội",
        division_type="thanh_pho_trung_uong",
        level=1,
        parent=AdminUnit.objects.get(code="VN"),
        path="VN.01.",
    )
    now = timezone.now()
    meeting = Meeting.objects.create(
        host_unit=hue2025,
        title="Họp giao ban",
        state=MeetingState.ENDED,
        scheduled_start=now - timedelta(hours=2),
        scheduled_end=now - timedelta(hours=1),
        started_at=now - timedelta(hours=2),
        ended_at=now - timedelta(hours=1),
    )
    rel = f"{meeting.id}/00000-test.webm"
    (settings.RECORDINGS_ROOT / str(meeting.id)).mkdir(parents=True)
    (settings.RECORDINGS_ROOT / rel).write_bytes(DATA)
    segment = Segment.objects.create(
        meeting=meeting,
        index=0,
        started_at=meeting.started_at,
        ended_at=meeting.ended_at,
        path=rel,
        bytes=len(DATA),
        sha256="ab" * 32,
        state=SegmentState.CLOSED,
    )
    users = {
        "reviewer": make_user("rev", Role.REVIEWER, unit=hue2025),
        "host": make_user("host", Role.HOST, unit=hue2025),
        "admin": make_user("adm", Role.ADMIN, unit=AdminUnit.objects.get(code="VN")),
        "hanoi_reviewer": make_user("hnrev", Role.REVIEWER, unit=hanoi),
        "terminal": make_user("term", Role.TERMINAL, unit=hue2025, room=Room.objects.get(unit=hue2025)),
    }
    return meeting, segment, users


def client_for(user) -> Client:
    c = Client()
    if user is not None:
        c.force_login(user)
    return c


def file_url(segment, **q):
    return f"/api/recordings/segments/{segment.id}/file" + ("?download=1" if q.get("download") else "")


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.parametrize(
    "header, first, last",
    [
        ("bytes=100-199", 100, 199),
        ("bytes=10000-", 10000, len(DATA) - 1),
        ("bytes=-4", len(DATA) - 4, len(DATA) - 1),
        ("bytes=0-", 0, len(DATA) - 1),
        ("bytes=10240-99999", 10240, len(DATA) - 1),  # an end past the file is clamped
        ("bytes=-99999", 0, len(DATA) - 1),  # a suffix longer than the file is the whole file
    ],
)
def test_range_forms_get_206_with_the_exact_bytes(rec, header, first, last):
    _, segment, users = rec
    r = client_for(users["reviewer"]).get(file_url(segment), HTTP_RANGE=header)
    assert r.status_code == 206
    assert r["Content-Range"] == f"bytes {first}-{last}/{len(DATA)}"
    assert r["Content-Length"] == str(last - first + 1)
    assert r["Accept-Ranges"] == "bytes"
    assert r["Content-Type"] == "video/webm"
    assert body(r) == DATA[first : last + 1]


@pytest.mark.parametrize("header", ["bytes=10244-", "bytes=99999-100000", "bytes=-0"])
def test_unsatisfiable_range_gets_416(rec, header):
    _, segment, users = rec
    r = client_for(users["reviewer"]).get(file_url(segment), HTTP_RANGE=header)
    assert r.status_code == 416
    assert r["Content-Range"] == f"bytes */{len(DATA)}"
    assert not RecordingAccess.objects.exists()


@pytest.mark.parametrize("header", [None, "bytes=0-1,5-9", "items=0-5", "bytes=9-3"])
def test_no_range_multiple_or_ignored_ranges_get_200_whole_file_streamed(rec, header):
    _, segment, users = rec
    extra = {"HTTP_RANGE": header} if header else {}
    r = client_for(users["host"]).get(file_url(segment), **extra)
    assert r.status_code == 200
    assert r.streaming  # never the whole file in memory
    assert r["Content-Length"] == str(len(DATA))
    assert r["Accept-Ranges"] == "bytes"
    assert body(r) == DATA


def test_accel_redirect_mode_hands_the_file_to_the_proxy(rec, settings):
    meeting, segment, users = rec
    settings.RECORDINGS_ACCEL_PREFIX = "/_recordings/"
    r = client_for(users["admin"]).get(file_url(segment), HTTP_RANGE="bytes=0-")
    assert r.status_code == 200
    assert r["X-Accel-Redirect"] == f"/_recordings/{meeting.id}/00000-test.webm"
    assert body(r) == b""
    assert RecordingAccess.objects.get().action == AccessAction.VIEW
    # refused users get no redirect
    r = client_for(users["terminal"]).get(file_url(segment))
    assert r.status_code == 403 and "X-Accel-Redirect" not in r


@pytest.mark.parametrize(
    "who, status, code",
    [("hanoi_reviewer", 403, "not_reviewer"), ("terminal", 403, "not_reviewer"), (None, 401, "unauthenticated")],
)
def test_other_province_terminal_and_anonymous_are_refused_and_not_logged(rec, who, status, code):
    meeting, segment, users = rec
    c = client_for(users[who] if who else None)
    for url in (file_url(segment), f"/api/recordings/meetings/{meeting.id}/segments"):
        r = c.get(url, HTTP_RANGE="bytes=0-9")
        assert r.status_code == status, url
        assert r.json()["code"] == code
    assert not RecordingAccess.objects.exists()


def test_meeting_not_ended_and_unknown_ids_are_refused(rec):
    meeting, segment, users = rec
    c = client_for(users["reviewer"])
    assert c.get("/api/recordings/meetings/999999/segments").json()["code"] == "meeting_not_found"
    assert c.get("/api/recordings/segments/999999/file").json()["code"] == "segment_not_found"
    Meeting.objects.filter(pk=meeting.pk).update(state=MeetingState.LIVE)
    r = c.get(file_url(segment))
    assert (r.status_code, r.json()["code"]) == (409, "meeting_not_ended")
    assert not RecordingAccess.objects.exists()


def test_a_view_is_logged_once_and_a_download_as_download(rec):
    meeting, segment, users = rec
    c = client_for(users["reviewer"])
    # a player: the first request from byte 0, then seeks
    for header in ("bytes=0-", "bytes=5000-", "bytes=-100"):
        assert c.get(file_url(segment), HTTP_RANGE=header, REMOTE_ADDR="203.0.113.7").status_code == 206
    log = RecordingAccess.objects.get()
    assert (log.user, log.meeting, log.segment, log.action, log.client_address) == (
        users["reviewer"],
        meeting,
        segment,
        AccessAction.VIEW,
        "203.0.113.7",
    )

    r = c.get(file_url(segment, download=True))
    assert r.status_code == 200 and "attachment" in r["Content-Disposition"]
    assert body(r) == DATA
    assert RecordingAccess.objects.filter(action=AccessAction.DOWNLOAD, segment=segment).count() == 1


def test_segment_list(rec):
    meeting, segment, users = rec
    r = client_for(users["reviewer"]).get(f"/api/recordings/meetings/{meeting.id}/segments")
    assert r.status_code == 200
    [row] = r.json()
    assert (row["id"], row["index"], row["bytes"], row["state"], row["sha256"]) == (
        segment.id,
        0,
        len(DATA),
        "closed",
        "ab" * 32,
    )
    assert row["start"] and row["end"]
    log = RecordingAccess.objects.get()
    assert (log.segment, log.action) == (None, AccessAction.VIEW)


def test_admin_lists_the_log_read_only(rec):
    from confserver.accounts.models import User

    meeting, segment, users = rec
    client_for(users["reviewer"]).get(file_url(segment))
    su = User.objects.create_superuser("root", password="pw-123456", role=Role.ADMIN)
    c = client_for(su)
    r = c.get("/admin/recording/recordingaccess/")
    assert r.status_code == 200 and "rev" in r.content.decode()
    assert c.get("/admin/recording/recordingaccess/add/").status_code == 403


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_the_body_is_an_async_stream(rec):
    """Django would collect a synchronous iterator into one list under daphne; ours stays chunked."""
    from asgiref.sync import sync_to_async
    from django.db import connections
    from django.test import AsyncClient

    _, segment, users = rec
    c = AsyncClient()
    await sync_to_async(c.force_login)(users["reviewer"])
    r = await c.get(file_url(segment), headers={"Range": "bytes=100-"})
    assert r.status_code == 206 and r.is_async
    assert b"".join([part async for part in r.streaming_content]) == DATA[100:]
    await sync_to_async(connections.close_all)()  # the request's thread's connection, or PostgreSQL's teardown waits


@pytest.mark.parametrize(
    "header, status, span",
    [
        ("bytes=" + "9" * 5000 + "-", 416, None),  # Python refuses int() of over 4,300 digits: was a 500
        ("bytes=0-" + "9" * 5000, 206, (0, len(DATA) - 1)),  # an end past the file is clamped, however long
        ("bytes=-" + "9" * 5000, 206, (0, len(DATA) - 1)),
        ("bytes=" + "0" * 5000 + "5-9", 206, (5, 9)),
    ],
)
def test_huge_numbers_in_a_range_are_answered_not_crashed(rec, header, status, span):
    _, segment, users = rec
    r = client_for(users["reviewer"]).get(file_url(segment), HTTP_RANGE=header)
    assert r.status_code == status
    if span:
        assert body(r) == DATA[span[0] : span[1] + 1]


def test_huge_numbers_in_a_range_in_accel_mode(rec, settings):
    _, segment, users = rec
    settings.RECORDINGS_ACCEL_PREFIX = "/_recordings/"
    r = client_for(users["reviewer"]).get(file_url(segment), HTTP_RANGE="bytes=" + "9" * 5000 + "-")
    assert r.status_code == 200 and r["X-Accel-Redirect"]


@pytest.mark.parametrize("segment_id", ["9223372036854775808", "99999999999999999999999", "0"])
def test_segment_ids_no_database_column_holds_are_not_found(rec, segment_id):
    _, _, users = rec
    r = client_for(users["reviewer"]).get(f"/api/recordings/segments/{segment_id}/file")
    assert (r.status_code, r.json()["code"]) == (404, "segment_not_found")


def test_a_file_removed_after_the_permission_check_is_a_coded_404(rec, settings, monkeypatch):
    """The retention (or a rebuilt download) can remove a file between the check and the read: the view opens
    the file before it answers, so the client gets a coded 404, never a 500 or a body cut short."""
    from confserver.recording import serve

    _, segment, users = rec
    real = serve.inside_root

    def vanishing(rel):
        path = real(rel)
        if path is not None:
            path.unlink()  # gone right after the check
        return path

    monkeypatch.setattr(serve, "inside_root", vanishing)
    r = client_for(users["reviewer"]).get(file_url(segment), HTTP_RANGE="bytes=0-9")
    assert (r.status_code, r.json()["code"]) == (404, "segment_file_missing")
    assert not RecordingAccess.objects.exists()


def test_an_open_file_is_served_whole_even_if_removed_while_streaming(rec, settings):
    meeting, segment, users = rec
    r = client_for(users["reviewer"]).get(file_url(segment))
    (settings.RECORDINGS_ROOT / segment.path).unlink()  # pruned while the body is being sent
    assert body(r) == DATA


def test_the_access_log_and_the_exports_are_for_administrators_only(rec):
    """A staff account that is not an administrator, even given the models' view permissions, opens neither
    who watched what nor the exports (legal holds were already so)."""
    from django.contrib.auth.models import Permission

    from confserver.accounts.models import User

    meeting, segment, users = rec
    client_for(users["reviewer"]).get(file_url(segment))
    clerk = User.objects.create_user(
        "clerk", password="pw-123456", role=Role.REVIEWER, is_staff=True, unit=meeting.host_unit
    )
    clerk.user_permissions.set(Permission.objects.filter(codename__in=["view_recordingaccess", "view_recordingexport"]))
    c = client_for(clerk)
    for path in ("/admin/recording/recordingaccess/", "/admin/recording/recordingexport/"):
        assert c.get(path).status_code == 403, path
    assert "recordingaccess" not in c.get("/admin/").content.decode()
    admin = User.objects.create_user("qt", password="pw-123456", role=Role.ADMIN, is_staff=True)
    admin.user_permissions.set(Permission.objects.filter(codename__in=["view_recordingaccess"]))
    r = client_for(admin).get("/admin/recording/recordingaccess/")
    assert r.status_code == 200 and "rev" in r.content.decode()
