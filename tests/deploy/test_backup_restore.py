"""Issue 13, item 6: back up, wipe, restore. A meeting with uploaded PDFs (the product's upload: checked in the
sandbox, stored under MEDIA_ROOT by hash), a timeline and a short recording (the product's segment writer, hash
chain) is backed up with `manage.py backup`; the files are wiped and the backup restored with `manage.py restore`
into a fresh, empty PostgreSQL database of the test's own: every document (same SHA-256), timeline entry and
recording segment is there and `verify_recording` passes. A damaged backup, and a non-empty database, are refused
and change nothing. Real PostgreSQL, pg_dump/pg_restore, PyAV."""

import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import time
from io import StringIO
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.core.management import call_command
from django.db import connection

from confserver.accounts.models import Role
from confserver.agenda import documents
from confserver.agenda.testing import pdfgen
from confserver.recording import store
from confserver.recording.models import Segment
from confserver.recording.segments import SegmentedWriter, sha256_file
from confserver.rooms import meetings, timeline
from confserver.rooms.meetings import Selection
from confserver.rooms.models import AdminUnit, Room, TimelineEvent
from confserver.testing import live
from tests.recording.media import program

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]

FACTS = """
import hashlib, json
from django.conf import settings
from confserver.agenda.models import DocumentVersion
from confserver.recording.models import Segment
from confserver.rooms.models import Meeting, TimelineEvent
m = Meeting.objects.get(title="Họp thử sao lưu")
from confserver.agenda.storage import pdf_path
def h(p):
    return hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
print(json.dumps({
  "meeting": m.id,
  "documents": sorted([v.document.title, v.sha256, v.size, h(pdf_path(v.sha256))]
                      for v in DocumentVersion.objects.filter(document__meeting=m)),
  "timeline": [[e.kind, e.at.isoformat(), e.data]
               for e in TimelineEvent.objects.filter(meeting=m).order_by("at", "id")],
  "segments": [[s.index, s.sha256, s.bytes, h(settings.RECORDINGS_ROOT / s.path)]
               for s in Segment.objects.filter(meeting=m).order_by("index")],
}))
"""


def files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


def env_for(db_url, tmp_path):
    return live.server_env(
        db_url,
        [],
        MEDIA_ROOT=tmp_path / "media",
        RECORDINGS_ROOT=tmp_path / "recordings",
        DJANGO_SETTINGS_MODULE="confserver.settings",
    )


def manage(env, *args):
    return subprocess.run(
        [live.PYTHON, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def facts(env) -> dict:
    out = manage(env, "shell", "--no-imports", "-c", FACTS)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def table_count(db_url) -> int:
    import psycopg

    with psycopg.connect(db_url.replace("postgres://", "postgresql://", 1)) as c:
        return c.execute("select count(*) from pg_tables where schemaname = 'public'").fetchone()[0]


@pytest.fixture
def meeting_with_everything(settings, tmp_path, hue2025, make_user, when):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.RECORDINGS_ROOT = tmp_path / "recordings"
    settings.AGENDA_WEBHOOK_URL = ""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    host = make_user("chutri-saoluu", Role.HOST, unit=hue2025)
    commune = AdminUnit.objects.filter(parent=hue2025).order_by("code").first()
    m = meetings.create_meeting(
        host,
        host_unit_code="46",
        title="Họp thử sao lưu",
        scheduled_start=when[0],
        scheduled_end=when[1],
        selection=Selection(mode="units", unit_codes=(commune.code,)),
    )
    for i in range(3):
        pdf = pdfgen.make_pdf(pdfgen.vietnamese_pages(random.Random(i), 3 + i), title=f"Báo cáo {i + 1}")
        documents.upload(host, m, io.BytesIO(pdf), filename=f"bao-cao-{i + 1}.pdf", title=f"Báo cáo số {i + 1}")
    meetings.change_state(host, m.id, "test_run")
    room = Room.objects.get(unit=commune)
    for kind in ("hand_raised", "floor_granted", "floor_released"):
        timeline.record(m, kind, actor=host, room=room, room_name=room.name)
    writer = SegmentedWriter(store.DatabaseSink(m.id), segment_s=1.0)
    for p in program(seconds_each=1):
        writer.write(p)
    writer.close()
    writer.sink.finished()
    assert Segment.objects.filter(meeting=m).count() >= 2 and TimelineEvent.objects.filter(meeting=m).count() >= 5
    return m


def test_back_up_wipe_restore_and_damaged_backups_refused(meeting_with_everything, settings, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the restore test runs on PostgreSQL (DATABASE_URL)")
    m = meeting_with_everything
    media_before, recordings_before = files(settings.MEDIA_ROOT), files(settings.RECORDINGS_ROOT)
    assert any(k.startswith("agenda/pdf/") for k in media_before) and recordings_before

    t0 = time.monotonic()
    out = StringIO()
    call_command("backup", str(tmp_path / "backups"), stdout=out)
    backup_s = time.monotonic() - t0
    folder = Path(out.getvalue().strip().splitlines()[-1])
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["database"]["vendor"] == "postgresql" and "pg_dump" in manifest["database"]["tool"]
    assert "0001_initial" in manifest["migrations"]["agenda"]
    listed = {e["path"]: e for e in manifest["files"]}
    assert {f"files/media/{k}" for k in media_before} <= set(listed)
    assert all(listed[f"files/recordings/{k}"]["sha256"] == v for k, v in recordings_before.items())
    size = sum(e["size"] for e in manifest["files"])

    # The facts as the source (this test's database) holds them, read the same way as the restored copy's below.
    source_url = urlparse(os.environ["DATABASE_URL"])._replace(path=f"/{connection.settings_dict['NAME']}").geturl()
    before = facts(env_for(source_url, tmp_path))
    assert len(before["documents"]) == 3 and all(d[1] == d[3] for d in before["documents"])

    # Wipe: the stored files go; the restore goes into a fresh, empty database.
    shutil.rmtree(settings.MEDIA_ROOT)
    shutil.rmtree(settings.RECORDINGS_ROOT)
    with live.throwaway_database(os.environ["DATABASE_URL"]) as db_url:
        env = env_for(db_url, tmp_path)

        # Damaged backups are refused before anything is written.
        for damage in ("pdf", "dump", "manifest", "missing"):
            bad = tmp_path / f"bad-{damage}"
            shutil.copytree(folder, bad)
            if damage == "pdf":
                pdf = next(bad.glob("files/media/agenda/pdf/*/*.pdf"))
                data = bytearray(pdf.read_bytes())
                data[len(data) // 2] ^= 0x01
                pdf.write_bytes(bytes(data))
            elif damage == "dump":
                with open(bad / "database.dump", "r+b") as f:
                    f.truncate(f.seek(0, 2) - 100)
            elif damage == "manifest":
                text = (bad / "manifest.json").read_text().replace(manifest["files"][1]["sha256"], "0" * 64)
                (bad / "manifest.json").write_text(text)
            else:
                next(bad.glob("files/recordings/**/*.webm")).unlink()
            r = manage(env, "restore", str(bad))
            assert r.returncode != 0 and "[backup_damaged]" in r.stderr and "Bản sao lưu bị hỏng" in r.stderr, r.stderr
            assert table_count(db_url) == 0 and not settings.MEDIA_ROOT.exists()

        t1 = time.monotonic()
        r = manage(env, "restore", str(folder))
        restore_s = time.monotonic() - t1
        assert r.returncode == 0, r.stderr
        assert "Đã khôi phục" in r.stdout
        restore_said = r.stdout.strip().splitlines()[0]
        after = facts(env)
        assert after == before
        assert files(settings.MEDIA_ROOT) == {k: v for k, v in media_before.items() if not k.startswith("agenda/tmp/")}
        assert files(settings.RECORDINGS_ROOT) == recordings_before
        verify = manage(env, "verify_recording", str(m.id))
        assert verify.returncode == 0, verify.stdout + verify.stderr

        # A second restore into the now non-empty database is refused (and --force replaces it).
        again = manage(env, "restore", str(folder))
        assert again.returncode != 0 and "[restore_not_empty]" in again.stderr
        forced = manage(env, "restore", "--force", str(folder))
        assert forced.returncode == 0, forced.stderr
        assert facts(env) == before

    print(
        f"\nbackup-restore: {len(manifest['files'])} files, {size:,} bytes; backup {backup_s:.2f} s, "
        f"restore {restore_s:.2f} s (3 PDFs, {len(before['timeline'])} timeline entries, "
        f"{len(before['segments'])} segments; manage.py included); backup said: {out.getvalue().splitlines()[0]}; "
        f"restore said: {restore_said}; load {os.getloadavg()[0]:.1f}"
    )


def test_the_embedded_sqlite_database_backs_up_and_restores(tmp_path):
    """The embedded default (no DATABASE_URL): SQLite's online backup API, the same manifest and checks."""

    def embedded(name):
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        var = tmp_path / name
        env.update(
            CONFSERVER_VAR_DIR=str(var),
            MEDIA_ROOT=str(var / "media"),
            RECORDINGS_ROOT=str(var / "rec"),
            DJANGO_SETTINGS_MODULE="confserver.settings",
        )
        return env, var

    src, src_var = embedded("source")
    assert manage(src, "migrate", "--no-input", "-v0").returncode == 0
    (src_var / "media" / "agenda" / "pdf" / "ab").mkdir(parents=True)
    (src_var / "media" / "agenda" / "pdf" / "ab" / "ab.pdf").write_bytes(b"%PDF-1.7 thu")
    r = manage(src, "backup", str(tmp_path / "backups"))
    assert r.returncode == 0, r.stderr
    folder = Path(r.stdout.strip().splitlines()[-1])
    assert json.loads((folder / "manifest.json").read_text())["database"]["file"] == "database.sqlite3"

    # A backup made by a newer version of the code (a migration this code lacks) is refused before anything is done.
    newer = tmp_path / "newer"
    shutil.copytree(folder, newer)
    manifest = json.loads((newer / "manifest.json").read_text())
    manifest["migrations"]["rooms"].append("9999_from_the_future")
    text = json.dumps(manifest, ensure_ascii=False, indent=1)
    (newer / "manifest.json").write_text(text, encoding="utf-8")
    (newer / "manifest.sha256").write_text(hashlib.sha256(text.encode()).hexdigest() + "  manifest.json\n")
    dst, dst_var = embedded("restored")
    r = manage(dst, "restore", str(newer))
    assert r.returncode != 0 and "[backup_newer_than_code]" in r.stderr and "rooms.9999_from_the_future" in r.stderr
    assert not (dst_var / "media").exists()

    r = manage(dst, "restore", str(folder))
    assert r.returncode == 0, r.stderr
    assert (dst_var / "media" / "agenda" / "pdf" / "ab" / "ab.pdf").read_bytes() == b"%PDF-1.7 thu"
    shown = manage(dst, "showmigrations", "twofactor").stdout
    assert "[X] 0001_initial" in shown
    again = manage(dst, "restore", str(folder))
    assert again.returncode != 0 and "[restore_not_empty]" in again.stderr
