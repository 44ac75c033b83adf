"""The one-file download and playback over HTTP (issue 10, items 6, 9, 10): Range/206 with the right bytes, a
download logged as a download, a playback as one view, X-Accel-Redirect in production, 202 with the state (and
a build queued once) while the file is not built; reviewers of another province, room terminals and anonymous
users refused and not logged. Real database, real segments, Django's test client."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from confserver.accounts.models import Role
from confserver.recording import finalize, serve
from confserver.recording.models import AccessAction, ExportState, RecordingAccess, RecordingExport, Segment
from confserver.rooms.models import AdminUnit, Meeting, MeetingState, Room

from .test_export import record


@pytest.fixture
def world(settings, tmp_path, hue2025, make_user):
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
    t0 = timezone.now().replace(microsecond=0) - timedelta(hours=2)
    meeting = Meeting.objects.create(
        host_unit=hue2025,
        title="Họp giao ban",
        state=MeetingState.ENDED,
        scheduled_start=t0,
        scheduled_end=t0 + timedelta(hours=1),
        started_at=t0,
        ended_at=t0 + timedelta(minutes=1),
    )
    record(meeting, t0, 0, 4, floor=(1000, 2))
    users = {
        "reviewer": make_user("rev", Role.REVIEWER, unit=hue2025),
        "admin": make_user("adm", Role.ADMIN, unit=AdminUnit.objects.get(code="VN")),
        "hanoi_reviewer": make_user("hnrev", Role.REVIEWER, unit=hanoi),
        "terminal": make_user("term", Role.TERMINAL, unit=hue2025, room=Room.objects.get(unit=hue2025)),
    }
    return meeting, users, settings.RECORDINGS_ROOT


@pytest.fixture
def built(world):
    meeting, users, root = world
    row = finalize.run(meeting.id)
    assert row.state == ExportState.READY
    return meeting, users, root, row


def client_for(user) -> Client:
    c = Client()
    if user is not None:
        c.force_login(user)
    return c


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def url(meeting, what):
    return f"/api/recordings/meetings/{meeting.id}/{what}"


@pytest.mark.parametrize(
    "header, first, last", [("bytes=100-1099", 100, 1099), ("bytes=-500", None, None), ("bytes=2000-", 2000, None)]
)
def test_download_serves_byte_ranges_and_logs_a_download(built, header, first, last):
    meeting, users, root, row = built
    data = (root / row.path).read_bytes()
    first = len(data) - 500 if first is None else first
    last = len(data) - 1 if last is None else last
    r = client_for(users["reviewer"]).get(url(meeting, "download"), HTTP_RANGE=header, REMOTE_ADDR="203.0.113.9")
    assert r.status_code == 206
    assert r["Content-Range"] == f"bytes {first}-{last}/{len(data)}" and r["Content-Type"] == "video/webm"
    assert body(r) == data[first : last + 1]
    assert r["Content-Disposition"] == f'attachment; filename="cuoc-hop-{meeting.id}.webm"'
    log = RecordingAccess.objects.get()
    assert (log.user, log.meeting, log.segment, log.action, log.client_address) == (
        users["reviewer"],
        meeting,
        None,
        AccessAction.DOWNLOAD,
        "203.0.113.9",
    )


def test_whole_download_and_the_players_file_logged_once_as_a_view(built):
    meeting, users, root, row = built
    data = (root / row.path).read_bytes()
    c = client_for(users["admin"])
    r = c.get(url(meeting, "download"))
    assert r.status_code == 200 and r.streaming and body(r) == data
    for header in ("bytes=0-", "bytes=5000-", "bytes=-200"):  # a player: from 0, then seeks
        r = c.get(url(meeting, "video"), HTTP_RANGE=header)
        assert r.status_code == 206 and "Content-Disposition" not in r
    assert sorted(RecordingAccess.objects.values_list("action", flat=True)) == [
        AccessAction.DOWNLOAD,
        AccessAction.VIEW,
    ]
    assert c.get(url(meeting, "video"), HTTP_RANGE=f"bytes={len(data)}-").status_code == 416


def test_a_players_open_ended_range_is_answered_in_bounded_pieces_and_a_download_whole(built, monkeypatch):
    """Chromium asks for `bytes=N-` at each seek and hangs up after ~100 KB; daphne has no backpressure, so the
    whole rest of the file was read into the worker's memory for each seek (bench/_recording_seek.py). A player
    (no attachment) gets at most PLAYER_SPAN bytes of an open-ended range, and a Content-Range saying which."""
    meeting, users, root, row = built
    monkeypatch.setattr(serve, "PLAYER_SPAN", 1000)
    data = (root / row.path).read_bytes()
    n = len(data)
    c = client_for(users["reviewer"])
    for header, first, last in (
        ("bytes=2000-", 2000, 2999),
        ("bytes=0-", 0, 999),
        (f"bytes={n - 300}-", n - 300, n - 1),
        ("bytes=0-4999", 0, 4999),
        ("bytes=-1500", n - 1500, n - 1),
    ):  # bounded: as asked
        r = c.get(url(meeting, "video"), HTTP_RANGE=header)
        assert r.status_code == 206 and r["Content-Range"] == f"bytes {first}-{last}/{n}", header
        assert r["Content-Length"] == str(last - first + 1) and body(r) == data[first : last + 1], header
    seg = Segment.objects.filter(meeting=meeting).order_by("index").first()
    seg_data = (root / seg.path).read_bytes()
    r = c.get(f"/api/recordings/segments/{seg.id}/file", HTTP_RANGE="bytes=100-")  # a segment in the player
    assert r["Content-Range"] == f"bytes 100-1099/{len(seg_data)}" and body(r) == seg_data[100:1100]
    for what in (url(meeting, "download"), f"/api/recordings/segments/{seg.id}/file?download=1"):  # a download
        whole = data if what.endswith("download") else seg_data
        r = c.get(what, HTTP_RANGE="bytes=2000-")
        assert r["Content-Range"] == f"bytes 2000-{len(whole) - 1}/{len(whole)}" and body(r) == whole[2000:], what


def test_a_seeks_range_costs_the_player_six_queries(built, django_assert_max_num_queries):
    """Each seek is a range request, and on a busy machine each query on its path is a wait: session, user,
    meeting, the reviewer's unit, the export row and the segments it was built from (was 7)."""
    meeting, users, root, row = built
    c = client_for(users["reviewer"])
    body(c.get(url(meeting, "video"), HTTP_RANGE="bytes=0-"))  # the playback's first request is logged
    with django_assert_max_num_queries(6):
        r = c.get(url(meeting, "video"), HTTP_RANGE="bytes=5000-")
        assert r.status_code == 206 and body(r)


def test_accel_redirect_hands_the_file_to_the_proxy(built, settings):
    meeting, users, root, row = built
    settings.RECORDINGS_ACCEL_PREFIX = "/_recordings/"
    r = client_for(users["reviewer"]).get(url(meeting, "download"))
    assert r.status_code == 200 and r["X-Accel-Redirect"] == f"/_recordings/{row.path}" and body(r) == b""
    assert "attachment" in r["Content-Disposition"]
    assert RecordingAccess.objects.get().action == AccessAction.DOWNLOAD


@pytest.mark.parametrize(
    "who, status, code",
    [("hanoi_reviewer", 403, "not_reviewer"), ("terminal", 403, "not_reviewer"), (None, 401, "unauthenticated")],
)
def test_other_province_terminal_and_anonymous_are_refused_and_nothing_is_logged_or_built(world, who, status, code):
    meeting, users, root = world
    c = client_for(users[who] if who else None)
    for method, what in (("get", "download"), ("get", "video"), ("get", "export"), ("post", "export")):
        r = getattr(c, method)(url(meeting, what), HTTP_RANGE="bytes=0-9")
        assert r.status_code == status, (method, what)
        assert r.json()["code"] == code
    assert not RecordingAccess.objects.exists() and not RecordingExport.objects.exists()


def test_not_built_yet_answers_202_with_the_state_and_queues_one_build(world, django_capture_on_commit_callbacks):
    meeting, users, root = world
    c = client_for(users["reviewer"])
    assert c.get(url(meeting, "video")).json()["code"] == "export_not_ready"
    r = c.get(url(meeting, "export"))
    assert r.status_code == 200 and r.json()["state"] == "none" and not RecordingExport.objects.exists()
    with django_capture_on_commit_callbacks() as callbacks:  # captured, not run: no process in this test
        r = c.get(url(meeting, "download"))
        again = c.get(url(meeting, "download"))
        post = c.post(url(meeting, "export"))
    assert r.status_code == 202 and r.json()["state"] == "queued" and r.json()["ready"] is False
    assert r.json()["message"] == "Đang chờ dựng tệp gộp…"
    assert again.status_code == post.status_code == 202
    assert len(callbacks) == 1  # one build, however many clicks
    assert not RecordingAccess.objects.exists()  # nothing was downloaded

    row = RecordingExport.objects.get(meeting=meeting)
    RecordingExport.objects.filter(pk=row.pk).update(requested_at=timezone.now() - timedelta(minutes=10))
    out = c.get(url(meeting, "export")).json()
    assert out["state"] == "stale" and "chưa được tiến trình nào nhận" in out["message"]  # queued, never taken
    RecordingExport.objects.filter(pk=row.pk).update(
        state=ExportState.RUNNING,
        progress=40,
        worker_pid=1,
        phase="Đang trộn âm thanh đoạn 1/1",
        heartbeat_at=timezone.now(),
    )
    out = c.get(url(meeting, "export")).json()
    assert out["state"] == "running" and out["message"] == "Đang dựng tệp gộp: 40% — Đang trộn âm thanh đoạn 1/1"

    assert finalize.run(meeting.id) is None  # that builder is alive: left alone
    RecordingExport.objects.filter(pk=row.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    out = c.get(url(meeting, "export")).json()
    assert out["state"] == "stale" and "gián đoạn" in out["message"]  # it went silent: not "the recording changed"
    assert finalize.run(meeting.id).state == ExportState.READY  # and is replaced
    out = c.get(url(meeting, "export")).json()
    assert out["state"] == "ready" and out["ready"] and out["message"].startswith("Tệp gộp đã sẵn sàng.")
    assert out["video_url"] == url(meeting, "video") and out["duration_s"] and out["t0"] == 0


def test_a_failed_build_is_shown_and_retried_only_after_a_while(world, settings, django_capture_on_commit_callbacks):
    meeting, users, root = world
    for seg in meeting.segments.all():
        (root / seg.path).unlink()
    finalize.run(meeting.id)
    c = client_for(users["reviewer"])
    with django_capture_on_commit_callbacks() as callbacks:
        r = c.get(url(meeting, "download"))
    assert r.status_code == 202 and r.json()["state"] == "failed" and callbacks == []
    assert r.json()["message"].startswith("Dựng tệp gộp bị lỗi: Cuộc họp")
    settings.RECORDING_EXPORT_RETRY_S = 0
    with django_capture_on_commit_callbacks() as callbacks:
        assert c.post(url(meeting, "export")).json()["state"] == "queued"
    assert len(callbacks) == 1


def test_stale_after_the_segments_change_and_no_recording_at_all(built, hue2025):
    meeting, users, root, row = built
    c = client_for(users["reviewer"])
    record(meeting, meeting.started_at + timedelta(seconds=20), 20_000, 2)
    out = c.get(url(meeting, "export")).json()
    assert out["state"] == "stale" and out["message"].startswith("Bản ghi đã thay đổi")
    assert c.get(url(meeting, "video")).json()["code"] == "export_not_ready"
    empty = Meeting.objects.create(
        host_unit=hue2025,
        title="Không ghi hình",
        state=MeetingState.ENDED,
        scheduled_start=meeting.scheduled_start,
        scheduled_end=meeting.scheduled_end,
    )
    r = c.get(url(empty, "download"))
    assert (r.status_code, r.json()["code"]) == (404, "recording_not_found")


def test_a_failed_build_tells_the_reviewer_in_vietnamese_without_server_paths(world):
    """The builder's exception text names files under RECORDINGS_ROOT; the reviewer gets a message, the log
    gets the details."""
    meeting, users, root = world
    (root / str(meeting.id) / "export").write_bytes(b"")  # a file where the export folder goes: mkdir fails
    row = finalize.run(meeting.id)
    assert row.state == ExportState.FAILED
    out = client_for(users["reviewer"]).get(url(meeting, "export")).json()
    assert out["state"] == "failed" and out["message"].startswith("Dựng tệp gộp bị lỗi")
    assert str(root) not in out["message"] and "Errno" not in out["message"] and "/" not in out["message"]
    assert str(root) not in row.error
