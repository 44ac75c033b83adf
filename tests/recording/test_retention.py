"""Retention and legal hold (issue 10, item 5): prune_recordings removes the files of meetings ended longer ago
than RECORDING_RETENTION_DAYS and marks their rows, never touches a meeting under an active hold or within the
retention, says what it removed, changes nothing with --dry-run or a retention of 0; verify_recording then
reports the segments as pruned; administrators set and clear holds in the admin with who, when and why."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from confserver.accounts.models import Role, User
from confserver.recording import finalize
from confserver.recording.models import ExportState, LegalHold, RecordingExport, Segment, SegmentState
from confserver.rooms.models import AdminUnit, Meeting, MeetingState

from .test_export import record, verify_output


@pytest.fixture
def meetings(db, settings, tmp_path):
    settings.RECORDINGS_ROOT = tmp_path / "recordings"
    settings.RECORDING_RETENTION_DAYS = 365
    unit = AdminUnit.objects.create(code="T7", name="Tỉnh thử lưu trữ", division_type="tinh", level=1, path="T7.")
    admin = User.objects.create_user("quantri-t7", password="pw-123456", role=Role.ADMIN, unit=unit)
    now = timezone.now()

    def meeting(title, ended_days_ago, hold=None, cleared=False):
        end = now - timedelta(days=ended_days_ago)
        m = Meeting.objects.create(
            host_unit=unit,
            title=title,
            state=MeetingState.ENDED,
            scheduled_start=end - timedelta(hours=1),
            scheduled_end=end,
            started_at=end - timedelta(hours=1),
            ended_at=end,
        )
        record(m, end - timedelta(hours=1), 0, 2)
        if hold:
            h = LegalHold.objects.create(meeting=m, reason=hold, set_by=admin)
            if cleared:
                LegalHold.objects.filter(pk=h.pk).update(cleared_by=admin, cleared_at=now, clear_reason="Hết vụ việc")
        return m

    ms = {
        "old": meeting("Họp cũ", 400),
        "held": meeting("Họp đang bị giữ", 400, hold="Thanh tra đang xem xét vụ việc"),
        "released": meeting("Họp đã gỡ giữ", 400, hold="Tranh chấp", cleared=True),
        "recent": meeting("Họp gần đây", 10),
    }
    finalize.run(ms["old"].id)  # its one-file download goes too
    return ms, settings.RECORDINGS_ROOT, admin


def files_of(root, meeting):
    d = root / str(meeting.id)
    return sorted(p for p in d.rglob("*") if p.is_file()) if d.exists() else []


def prune(*args):
    out = StringIO()
    call_command("prune_recordings", *args, stdout=out)
    return out.getvalue()


def test_dry_run_lists_and_removes_nothing(meetings):
    ms, root, _ = meetings
    before = {k: files_of(root, m) for k, m in ms.items()}
    text = prune("--dry-run")
    assert {k: files_of(root, m) for k, m in ms.items()} == before
    assert not Segment.objects.filter(state=SegmentState.PRUNED).exists()
    assert f"Cuộc họp {ms['old'].id} «Họp cũ»" in text and "sẽ xoá" in text
    assert str(before["old"][0].relative_to(root)) in text
    assert "chạy thử" in text


def test_prune_removes_expired_keeps_held_and_recent_and_says_what(meetings):
    ms, root, _ = meetings
    held_files, recent_files = files_of(root, ms["held"]), files_of(root, ms["recent"])
    old_files = files_of(root, ms["old"])
    assert any("/export/" in str(p) for p in old_files) and any("/mix/" in str(p) for p in old_files)
    text = prune()

    assert files_of(root, ms["old"]) == [] and files_of(root, ms["released"]) == []
    assert files_of(root, ms["held"]) == held_files and files_of(root, ms["recent"]) == recent_files
    for key, state in (
        ("old", SegmentState.PRUNED),
        ("released", SegmentState.PRUNED),
        ("held", SegmentState.CLOSED),
        ("recent", SegmentState.CLOSED),
    ):
        rows = Segment.objects.filter(meeting=ms[key])
        assert {r.state for r in rows} == {state}, key
        if state == SegmentState.PRUNED:
            assert all(r.pruned_at and len(r.sha256) == 64 for r in rows)  # the record of what existed stays
    assert RecordingExport.objects.get(meeting=ms["old"]).state == ExportState.PRUNED
    assert f"Cuộc họp {ms['old'].id} «Họp cũ»" in text and "đã xoá" in text
    assert "«Họp đang bị giữ»" in text and "giữ lại" in text and "Thanh tra đang xem xét vụ việc" in text
    assert "Họp gần đây" not in text
    assert "đã xoá bản ghi của 2 cuộc họp" in text and "giữ lại 1 cuộc họp" in text

    # pruned is reported as pruned, not as missing or tampered, and is not a failure
    out, ok = verify_output(ms["old"])
    assert ok and "đã xoá theo thời hạn lưu trữ / pruned" in out and "missing" not in out
    assert "Tệp tải về" in out and "/ pruned" in out.splitlines()[-2]
    # a second run has nothing more to remove; the download is not rebuilt from pruned segments
    assert "đã xoá bản ghi của 0 cuộc họp" in prune()
    assert finalize.ensure(ms["old"].id).state == ExportState.PRUNED
    assert finalize.run(ms["old"].id).state == ExportState.PRUNED
    reviewer = User.objects.create_user("xemlai-t7", password="pw-123456", role=Role.REVIEWER, unit=ms["old"].host_unit)
    c = Client()
    c.force_login(reviewer)
    for method, what in (("get", "download"), ("get", "video"), ("post", "export")):
        r = getattr(c, method)(f"/api/recordings/meetings/{ms['old'].id}/{what}")
        assert (r.status_code, r.json()["code"]) == (410, "recording_pruned"), what
    out = c.get(f"/api/recordings/meetings/{ms['old'].id}/export").json()
    assert out["state"] == "pruned" and out["message"] == "Bản ghi đã bị xoá theo thời hạn lưu trữ."


def test_zero_keeps_forever(meetings, settings):
    ms, root, _ = meetings
    settings.RECORDING_RETENTION_DAYS = 0
    before = files_of(root, ms["old"])
    assert "giữ vĩnh viễn" in prune()
    assert files_of(root, ms["old"]) == before and not Segment.objects.filter(state=SegmentState.PRUNED).exists()


def test_administrators_set_and_clear_holds_in_the_admin_with_who_when_why(meetings):
    ms, root, admin = meetings
    staff = User.objects.create_superuser("root-t7", password="pw-123456", role=Role.ADMIN)
    c = Client()
    c.force_login(staff)
    r = c.post("/admin/recording/legalhold/add/", {"meeting": ms["old"].id, "reason": "Yêu cầu của cơ quan điều tra"})
    assert r.status_code == 302, r.content.decode()[:2000]
    hold = LegalHold.objects.get(meeting=ms["old"], cleared_at=None)
    assert hold.set_by == staff and hold.set_at and hold.reason == "Yêu cầu của cơ quan điều tra"
    assert "giữ lại" in prune() and files_of(root, ms["old"])

    change = f"/admin/recording/legalhold/{hold.pk}/change/"
    r = c.post(change, {"clear": "on", "clear_reason": ""})
    assert r.status_code == 200 and "Cần ghi lý do gỡ lệnh giữ." in r.content.decode()
    r = c.post(change, {"clear": "on", "clear_reason": "Đã kết thúc điều tra"})
    assert r.status_code == 302
    hold.refresh_from_db()
    assert (hold.cleared_by, hold.clear_reason) == (staff, "Đã kết thúc điều tra") and hold.cleared_at
    assert c.post(f"/admin/recording/legalhold/{hold.pk}/delete/").status_code == 403
    assert "đã xoá" in prune() and not files_of(root, ms["old"])

    # a staff account that is not an administrator cannot see or set holds, even given the model's permissions
    from django.contrib.auth.models import Permission

    clerk = User.objects.create_user("clerk", password="pw-123456", role=Role.REVIEWER, is_staff=True)
    clerk.user_permissions.set(Permission.objects.filter(codename__endswith="_legalhold"))
    c.force_login(clerk)
    assert c.get("/admin/recording/legalhold/").status_code == 403
    assert c.post("/admin/recording/legalhold/add/", {"meeting": ms["recent"].id, "reason": "x"}).status_code == 403
    assert not LegalHold.objects.filter(meeting=ms["recent"]).exists()


def test_a_file_that_cannot_be_removed_leaves_the_record_consistent(meetings, monkeypatch):
    """One segment's file refuses removal: the others go, every row says pruned (the decision), the failure is
    printed; before, the exception rolled the rows back after some files were gone (verify: 'missing')."""
    from pathlib import Path

    ms, root, _ = meetings
    stuck = root / Segment.objects.filter(meeting=ms["old"]).order_by("index").first().path
    real_unlink = Path.unlink

    def unlink(self, missing_ok=False):
        if self == stuck:
            raise PermissionError(13, "Permission denied", str(self))
        return real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    monkeypatch.setattr("shutil.rmtree", lambda *a, **k: None)  # the stuck file's folder stays with it
    text = prune()
    monkeypatch.undo()
    assert {r.state for r in Segment.objects.filter(meeting=ms["old"])} == {SegmentState.PRUNED}
    assert files_of(root, ms["old"]) == [stuck]
    assert "không xoá được" in text and str(stuck.relative_to(root)) in text
    out, ok = verify_output(ms["old"])
    assert ok and "missing" not in out
