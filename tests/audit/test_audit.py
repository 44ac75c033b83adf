"""Issue 13, item 3: the audit log. Sign-in, failures and sign-out; account and role changes; meeting timeline
events with their actor; recording views; append-only (the manager everywhere, a trigger on the database);
retention; CSV export for administrators; the read-only admin."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from confserver import audit
from confserver.accounts.models import Role
from confserver.audit.models import AppendOnly, AuditEvent
from tests.accounts.english import english_in, visible_text

UA = "Mozilla/5.0 (X11; Linux x86_64) Chrome/156 thử"


def post(client, url, body, **extra):
    return client.post(url, json.dumps(body), content_type="application/json", **extra)


def events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


@pytest.fixture
def admin_user(hue2025, make_user):
    user = make_user("quantri-thu", Role.ADMIN, unit=hue2025)
    user.is_superuser = True  # as load_demo's "quantri"
    user.save()
    return user


@pytest.mark.django_db
def test_sign_in_failure_and_sign_out_with_address_and_agent(client, admin_user):
    r = client.post(
        "/login/", {"username": "quantri-thu", "password": "sai"}, HTTP_USER_AGENT=UA, REMOTE_ADDR="203.0.113.7"
    )
    assert r.status_code == 200
    [failed] = events("auth.sign_in_failed")
    assert failed.username == "quantri-thu" and failed.user_id is None and failed.ip == "203.0.113.7"
    assert failed.user_agent == UA and "sai" not in json.dumps(failed.data)

    r = client.post(
        "/login/", {"username": "quantri-thu", "password": "pw-123456"}, HTTP_USER_AGENT=UA, REMOTE_ADDR="203.0.113.7"
    )
    assert r.status_code == 302
    [ok] = events("auth.sign_in")
    assert (ok.user_id, ok.username, ok.role, ok.ip, ok.user_agent) == (
        admin_user.pk,
        "quantri-thu",
        "admin",
        "203.0.113.7",
        UA,
    )
    assert not events("account.change")  # last_login is not an account change

    client.post("/logout/", REMOTE_ADDR="203.0.113.8")
    [out] = events("auth.sign_out")
    assert out.user_id == admin_user.pk and out.ip == "203.0.113.8"


@pytest.mark.django_db
def test_account_and_role_changes_in_the_admin(client, admin_user, make_user, hue2025):
    admin_user.is_staff = True
    admin_user.save()
    target = make_user("xemlai-thu", Role.REVIEWER, unit=hue2025)
    [created] = events("account.create")[-1:]
    assert created.object_id == str(target.pk)

    client.force_login(admin_user)
    r = client.post("/admin/auth/group/add/", {"name": "Nhóm thử"}, REMOTE_ADDR="198.51.100.4")
    assert r.status_code == 302, r.content.decode()[:2000]
    [group] = events("group.create")
    assert group.user_id == admin_user.pk and group.ip == "198.51.100.4" and group.object_repr == "Nhóm thử"

    target.role = Role.HOST
    target.save()
    [change] = events("account.role_change")[-1:]
    assert change.object_id == str(target.pk) and change.data["role_from"] == "reviewer"
    assert change.data["role_to"] == "host" and change.data["fields"] == ["role"]

    target.is_active = False
    target.save()
    assert events("account.change")[-1].data["fields"] == ["is_active"]


@pytest.mark.django_db(transaction=True)
def test_meeting_state_changes_are_audited_with_their_actor(client, hue2025, make_user, when):
    host = make_user("chutri-thu", Role.HOST, unit=hue2025)
    client.force_login(host)
    body = {
        "title": "Hội nghị",
        "host_unit": "46",
        "scheduled_start": when[0].isoformat(),
        "scheduled_end": when[1].isoformat(),
    }
    mid = post(client, "/api/meetings", body, REMOTE_ADDR="192.0.2.9").json()["id"]
    r = post(client, f"/api/meetings/{mid}/state", {"state": "test_run"}, REMOTE_ADDR="192.0.2.9", HTTP_USER_AGENT=UA)
    assert r.status_code == 200
    [state] = events("meeting.state")
    assert (state.user_id, state.role, state.meeting_id, state.ip, state.user_agent) == (
        host.pk,
        "host",
        mid,
        "192.0.2.9",
        UA,
    )
    assert state.data["state"] == "test_run" and state.data["previous"] == "scheduled"
    assert [e.action for e in AuditEvent.objects.filter(meeting_id=mid).order_by("id")] == [
        "meeting.created",
        "meeting.state",
    ]


@pytest.mark.django_db
def test_every_timeline_event_is_audited(hue2025, make_user, when):
    """Floor and mute actions reach the timeline through timeline.record from the socket layer (no request)."""
    from confserver.rooms import timeline
    from confserver.rooms.models import Meeting, Room

    host = make_user("chutri-thu", Role.HOST, unit=hue2025)
    m = Meeting.objects.create(host_unit=hue2025, title="Họp", scheduled_start=when[0], scheduled_end=when[1])
    room = Room.objects.first()
    timeline.record(m, "floor_granted", actor=host, room=room)
    timeline.record(m, "muted", actor=host, room=room, by="chair")
    timeline.record(m, "recording_failed", code="disk", detail="/srv/secret/path")
    rows = list(AuditEvent.objects.filter(meeting_id=m.pk).order_by("id"))
    assert [(e.action, e.username, e.data["room_id"]) for e in rows[:2]] == [
        ("meeting.floor_granted", "chutri-thu", room.pk),
        ("meeting.muted", "chutri-thu", room.pk),
    ]
    assert rows[1].data["by"] == "chair" and rows[1].ip is None
    assert rows[2].user_id is None and "detail" not in rows[2].data  # server paths stay in the timeline


@pytest.mark.django_db
def test_recording_views_and_downloads_are_audited(hue2025, make_user, when):
    from confserver.recording.models import AccessAction, RecordingAccess
    from confserver.rooms.models import Meeting

    reviewer = make_user("xemlai-thu", Role.REVIEWER, unit=hue2025)
    m = Meeting.objects.create(host_unit=hue2025, title="Họp", scheduled_start=when[0], scheduled_end=when[1])
    RecordingAccess.objects.create(user=reviewer, meeting=m, action=AccessAction.DOWNLOAD, client_address="10.1.2.3")
    [e] = events("recording.download")
    assert (e.user_id, e.meeting_id, e.ip) == (reviewer.pk, m.pk, "10.1.2.3")


@pytest.mark.django_db
def test_the_application_cannot_change_or_remove_rows():
    e = audit.record("test.event", username="ai-do")
    with pytest.raises(AppendOnly):
        AuditEvent.objects.filter(pk=e.pk).update(action="x")
    with pytest.raises(AppendOnly):
        AuditEvent.objects.filter(pk=e.pk).delete()
    e.action = "x"
    with pytest.raises(AppendOnly):
        e.save()
    with pytest.raises(AppendOnly):
        e.delete()
    # Past the ORM, the database itself refuses an UPDATE (a trigger on PostgreSQL and SQLite).
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE audit_auditevent SET action = 'x' WHERE id = %s", [e.pk])
    assert AuditEvent.objects.get(pk=e.pk).action == "test.event"


@pytest.mark.django_db
def test_postgresql_refuses_delete_even_in_raw_sql():
    if connection.vendor != "postgresql":
        pytest.skip("the DELETE trigger is PostgreSQL's (SQLite: the manager refuses)")
    old = audit.record("test.old", at=timezone.now() - timedelta(days=400))
    new = audit.record("test.new")
    for pk in (old.pk, new.pk):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
            cur.execute("DELETE FROM audit_auditevent WHERE id = %s", [pk])
    # Even with the pruner's session flag, a row younger than 30 days stays.
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL confserver.audit_prune = 'on'")
        cur.execute("DELETE FROM audit_auditevent WHERE id = %s", [new.pk])
    assert AuditEvent.objects.filter(pk__in=[old.pk, new.pk]).count() == 2


@pytest.mark.django_db
def test_prune_keeps_the_retention_period(settings):
    from django.core.management import call_command

    settings.AUDIT_RETENTION_DAYS = 365
    now = timezone.now()
    old = audit.record("test.old", at=now - timedelta(days=366))
    kept = audit.record("test.kept", at=now - timedelta(days=364))
    out = io.StringIO()
    call_command("prune_audit", "--dry-run", stdout=out)
    assert "Sẽ xoá 1 sự kiện" in out.getvalue() and AuditEvent.objects.filter(pk=old.pk).exists()
    call_command("prune_audit", stdout=out)
    assert "Đã xoá 1 sự kiện" in out.getvalue()
    assert list(AuditEvent.objects.filter(pk__in=[old.pk, kept.pk]).values_list("pk", flat=True)) == [kept.pk]
    settings.AUDIT_RETENTION_DAYS = 1  # below the floor: 30 days are kept anyway
    recent = audit.record("test.recent", at=now - timedelta(days=10))
    call_command("prune_audit", stdout=out)
    assert AuditEvent.objects.filter(pk=recent.pk).exists()


@pytest.mark.django_db
def test_csv_export_for_administrators_only(client, admin_user, make_user, hue2025):
    today = timezone.localdate()
    audit.record("test.today", username="ai-do", note="Hà Nội")
    audit.record("test.long_ago", at=timezone.now() - timedelta(days=40))
    client.force_login(admin_user)
    r = client.get(f"/api/audit/export?from={today - timedelta(days=1)}&to={today}")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(r.streaming_content).decode("utf-8-sig"))))
    actions = [row["hanh_dong"] for row in rows]
    assert "test.today" in actions and "test.long_ago" not in actions
    assert json.loads(rows[actions.index("test.today")]["chi_tiet"]) == {"note": "Hà Nội"}
    assert events("audit.export")[-1].user_id == admin_user.pk  # the export is itself audited

    r = client.get("/api/audit/export?from=2026-13-01")
    assert r.status_code == 400 and r.json()["code"] == "bad_date"
    r = client.get(f"/api/audit/export?from={today}&to={today - timedelta(days=1)}")
    assert r.status_code == 400 and r.json()["code"] == "bad_date_range"

    client.force_login(make_user("chutri-thu", Role.HOST, unit=hue2025))
    r = client.get("/api/audit/export")
    assert r.status_code == 403 and r.json()["code"] == "audit_forbidden"
    client.logout()
    r = client.get("/api/audit/export")
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"


@pytest.mark.django_db
def test_admin_reads_it_in_vietnamese_and_cannot_edit(client, admin_user, make_user, hue2025):
    admin_user.is_staff = True
    admin_user.save()
    e = audit.record("test.event", username="ai-do")
    client.force_login(admin_user)
    r = client.get("/admin/audit/auditevent/")
    page = r.content.decode()
    assert r.status_code == 200 and "nhật ký kiểm toán" in page.lower() and "test.event" in page
    audit.record("auth.sign_in_failed", username="ai-do")
    audit.record("meeting.floor_granted", user=admin_user)
    page = visible_text(client.get("/admin/audit/auditevent/").content.decode())
    assert "Đăng nhập không thành công" in page and "Cuộc họp: Cho phòng phát biểu" in page and "Quản trị" in page
    assert not english_in(page.replace("test.event", "")), english_in(page)
    assert "Xuất các sự kiện đã chọn ra tệp CSV" in page
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    assert client.get(f"/admin/audit/auditevent/{e.pk}/delete/").status_code == 403
    r = client.post("/admin/audit/auditevent/", {"action": "export_csv", "_selected_action": [e.pk]})
    assert r.status_code == 200 and "test.event" in b"".join(r.streaming_content).decode("utf-8-sig")
    # A host with staff rights still cannot open it.
    host = make_user("chutri-thu", Role.HOST, unit=hue2025)
    host.is_staff = True
    host.save()
    client.force_login(host)
    assert client.get("/admin/audit/auditevent/").status_code in (302, 403)


@pytest.mark.django_db
def test_prune_works_when_the_servers_clock_runs_ahead_of_the_databases(settings):
    """At the 30-day floor, a row the server deems past it and the database's trigger does not (clocks an hour
    apart) is kept, and the older ones are still removed (before: the trigger refused the whole DELETE)."""
    from confserver.audit import retention

    if connection.vendor != "postgresql":
        pytest.skip("the floor is the PostgreSQL trigger's (SQLite, embedded: one clock)")
    settings.AUDIT_RETENTION_DAYS = 30
    now = timezone.now()
    old = audit.record("test.old", at=now - timedelta(days=40))
    edge = audit.record("test.edge", at=now - timedelta(days=30) + timedelta(minutes=10))
    assert retention.prune(now=now + timedelta(hours=1)) == 1
    assert list(AuditEvent.objects.filter(pk__in=[old.pk, edge.pk]).values_list("pk", flat=True)) == [edge.pk]
