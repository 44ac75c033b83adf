"""Issue 12, item 13: the sign-in page and the admin read as the product, in Vietnamese.

Each page is rendered by the real views (Django's test client) and its visible text scanned for English
(tests/accounts/english.py): Django admin's chrome ("Skip to main content", "Toggle theme"), English model
and field names ("Publications", "Read receipts", "Created by"), "Participation object (1)", raw timeline kinds.
"""

import gettext
import shutil
import subprocess
from pathlib import Path

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from confserver.accounts.models import Role, User
from confserver.agenda.models import Document, DocumentVersion, Publication, ReadReceipt, WebhookDelivery
from confserver.rooms import meetings, timeline
from confserver.rooms.models import Participation, TimelineEvent

from .english import english_in, visible_text

pytestmark = pytest.mark.django_db
LOCALE = Path(__file__).resolve().parents[2] / "confserver" / "locale" / "vi" / "LC_MESSAGES"


@pytest.fixture
def fast_hash(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(hue2025, fast_hash, when):
    """An administrator, and one meeting of Huế with a row in every table the admin lists."""
    boss = User.objects.create_user(
        "quantri-t", password="pw-123456", role=Role.ADMIN, is_staff=True, is_superuser=True, unit=hue2025
    )
    m = meetings.create_meeting(
        boss,
        host_unit_code="46",
        title="Họp trực tuyến tháng Năm",
        scheduled_start=when[0],
        scheduled_end=when[1],
        selection=meetings.Selection(mode="subtree"),
    )
    part = m.participations.select_related("room").first()
    timeline.record(m, "state", actor=boss, state="test_run", previous="scheduled")
    timeline.record(m, "join", room=part.room)
    doc = Document.objects.create(meeting=m, title="Báo cáo kinh tế", created_by=boss)
    version = DocumentVersion.objects.create(
        document=doc,
        number=1,
        filename="bao-cao.pdf",
        sha256="0" * 64,
        size=1000,
        page_count=3,
        uploaded_by=boss,
        signature_status="unsigned",
    )
    now = timezone.now()
    pub = Publication.objects.create(meeting=m, number=1, published_by=boss, published_at=now)
    WebhookDelivery.objects.create(publication=pub, url="https://tin.example.vn/hook", payload={})
    ReadReceipt.objects.create(room=part.room, version=version, first_opened_at=now, last_opened_at=now)
    return {"admin": boss, "meeting": m, "participation": part, "document": doc, "publication": pub}


def scan(client, url: str, status=200) -> str:
    r = client.get(url)
    assert r.status_code == status, (url, r.status_code)
    text = visible_text(r.content.decode())
    found = english_in(text)
    assert not found, f"{url}: English on the page: {found}"
    return text


def test_sign_in_page_is_the_products_own_in_vietnamese():
    for url in ("/login/", "/login/?next=/web/host.html", "/admin/login/?next=/admin/"):
        text = scan(Client(), url)
        assert "Đăng nhập" in text and "Tên đăng nhập" in text and "Mật khẩu" in text, text
        assert "Trang web admin" not in text and "Django" not in text


def test_a_wrong_password_is_explained_in_vietnamese(fast_hash, make_user):
    make_user("chutri-sai", Role.HOST)
    r = Client().post("/login/", {"username": "chutri-sai", "password": "sai-roi"})
    assert r.status_code == 200
    text = visible_text(r.content.decode())
    assert "mật khẩu" in text and not english_in(text), text


def test_admin_index_change_lists_and_forms_are_vietnamese(world):
    c = Client()
    c.force_login(world["admin"])
    index = scan(c, "/admin/")
    for name in (
        "Chương trình họp",
        "Diễn biến cuộc họp",
        "Tài liệu đã đọc",
        "Các lần phát hành chương trình",
        "Thông báo gửi đi (webhook)",
        "Quản trị hệ thống hội nghị trực tuyến",
        "Đăng xuất",
    ):
        assert name in index, name
    # Every list the admin offers, and the forms of the rows made above.
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        scan(c, reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        if model_admin.has_add_permission(_request(c, world["admin"])):
            scan(c, reverse(f"admin:{meta.app_label}_{meta.model_name}_add"))
    m = world["meeting"]
    change = scan(c, reverse("admin:rooms_meeting_change", args=[m.pk]))
    assert "người tạo" in change.lower()
    assert f"{world['participation'].room} — {m.title}" in change  # not "Participation object (1)"
    scan(c, reverse("admin:accounts_user_change", args=[world["admin"].pk]))
    scan(c, reverse("admin:agenda_document_change", args=[world["document"].pk]))
    scan(c, reverse("admin:agenda_publication_change", args=[world["publication"].pk]))
    timeline_list = scan(c, reverse("admin:rooms_timelineevent_changelist"))
    assert "Chuyển trạng thái cuộc họp" in timeline_list and "Phòng vào họp" in timeline_list
    row = TimelineEvent.objects.filter(kind="join").first()
    scan(c, reverse("admin:rooms_timelineevent_change", args=[row.pk]))


def _request(client, user):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def test_timeline_is_read_only_in_the_admin(world):
    c = Client()
    c.force_login(world["admin"])
    row = TimelineEvent.objects.first()
    assert c.post(reverse("admin:rooms_timelineevent_change", args=[row.pk]), {"kind": "dropped"}).status_code == 403
    assert c.get(reverse("admin:rooms_timelineevent_add")).status_code == 403


def test_models_read_well():
    assert str(Participation()) == "phòng tham dự"
    assert "object" not in str(TimelineEvent(kind="join")) and str(TimelineEvent(kind="join")) == "Phòng vào họp"


def test_every_timeline_kind_written_by_the_code_has_a_vietnamese_label():
    """A kind without a label would show raw ("created", "join") in the admin: the code is read for every
    kind it records (timeline.record(..., "kind"), TimelineEvent(kind="…"), and the recording's constants)."""
    import re

    from confserver.rooms.models import TimelineKind

    root = Path(__file__).resolve().parents[2] / "confserver"
    kinds = set()
    for path in root.rglob("*.py"):
        src = path.read_text(encoding="utf-8")
        kinds |= set(re.findall(r'timeline\.record\)?\(\s*[^,]+,\s*"([a-z_]+)"', src))
        kinds |= set(re.findall(r'TimelineEvent\([^)]*kind="([a-z_]+)"', src))
        if '"muted" if muted else "unmuted"' in src:
            kinds |= {"muted", "unmuted"}
    from confserver.recording import live

    kinds |= set(live.KINDS)
    assert len(kinds) >= 20, kinds  # the search found the calls
    missing = sorted(kinds - set(TimelineKind.values))
    assert not missing, f"timeline kinds without a Vietnamese label in rooms.models.TimelineKind: {missing}"


@pytest.mark.skipif(not shutil.which("msgfmt"), reason="GNU gettext's msgfmt is not installed")
@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_compiled_translations_match_their_sources(tmp_path, domain):
    """The .mo files Django reads are built from the .po files next to them (msgfmt -o X.mo X.po)."""
    built = tmp_path / f"{domain}.mo"
    subprocess.run(["msgfmt", "-o", str(built), str(LOCALE / f"{domain}.po")], check=True, timeout=60)
    with built.open("rb") as fresh, (LOCALE / f"{domain}.mo").open("rb") as shipped:
        assert gettext.GNUTranslations(shipped)._catalog == gettext.GNUTranslations(fresh)._catalog


def test_who_is_signed_in(world, make_user, hue2025):
    host = make_user("chutri-who", Role.HOST, unit=hue2025)
    c = Client()
    assert c.get("/api/accounts/me").json()["code"] == "unauthenticated"
    c.force_login(host)
    me = c.get("/api/accounts/me").json()
    assert me["username"] == "chutri-who" and me["role_label"] == "Điều hành (chủ trì)"
    assert me["unit_name"] == hue2025.name and me["home"] == "/web/host.html" and me["csrf"]
    assert "/admin/" not in me["pages"]


def test_signing_out_lands_on_the_sign_in_page(world):
    c = Client(enforce_csrf_checks=True)
    c.force_login(world["admin"])
    token = c.get("/api/accounts/me").json()["csrf"]
    r = c.post("/logout/", {"csrfmiddlewaretoken": token})
    assert r.status_code == 302 and r["Location"] == "/login/"
    assert c.get("/api/accounts/me").status_code == 401
    # The admin's own sign-out too.
    c.force_login(world["admin"])
    token = c.get("/api/accounts/me").json()["csrf"]
    r = c.post("/admin/logout/", {"csrfmiddlewaretoken": token})
    assert r.status_code == 302 and r["Location"] == "/login/"


@pytest.mark.parametrize(
    "role, next_url, lands",
    [
        (Role.HOST, "", "/web/host.html"),
        (Role.HOST, "/web/host.html?meeting=4", "/web/host.html?meeting=4"),
        (Role.HOST, "/web/review.html", "/web/review.html"),
        (Role.HOST, "/admin/", "/web/host.html"),  # not staff: the admin would refuse it
        (Role.REVIEWER, "", "/web/review.html"),
        (Role.REVIEWER, "/web/host.html", "/web/review.html"),
        (Role.REVIEWER, "/web/index.html", "/web/review.html"),
        (Role.REVIEWER, "/web/minutes.html?meeting=2", "/web/minutes.html?meeting=2"),
        (Role.ADMIN, "", "/home/"),
        (Role.ADMIN, "/web/host.html", "/web/host.html"),
        (Role.ADMIN, "/admin/", "/admin/"),
    ],
)
def test_each_role_lands_on_its_own_page(fast_hash, hue2025, role, next_url, lands):
    staff = role == Role.ADMIN
    User.objects.create_user(
        "nguoi-dung", password="pw-123456", role=role, unit=hue2025, is_staff=staff, is_superuser=staff
    )
    r = Client().post(
        "/login/" + (f"?next={next_url}" if next_url else ""), {"username": "nguoi-dung", "password": "pw-123456"}
    )
    assert r.status_code == 302 and r["Location"] == lands


def test_the_administrators_choice_page(world, make_user, hue2025):
    c = Client()
    c.force_login(world["admin"])
    text = scan(c, "/home/")
    for title in ("Quản trị hệ thống", "Điều hành cuộc họp", "Xem lại cuộc họp", "Đăng xuất"):
        assert title in text
    c.force_login(make_user("xemlai-t", Role.REVIEWER, unit=hue2025))
    r = c.get("/home/")
    assert r.status_code == 302 and r["Location"] == "/web/review.html"
    r = Client().get("/home/")
    assert r.status_code == 302 and r["Location"].startswith("/login/?next=/home/")


def test_a_host_at_the_admin_sign_in_is_told_why_in_vietnamese(world, make_user, hue2025):
    c = Client()
    c.force_login(make_user("chutri-adm", Role.HOST, unit=hue2025))
    r = c.get("/admin/", follow=True)
    text = visible_text(r.content.decode())
    assert "không có quyền vào trang quản trị" in text and not english_in(text), text


def test_the_throttles_refusal_is_on_the_sign_in_page(fast_hash, make_user, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 2
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"signin-page-{timezone.now().timestamp()}",
        }
    }
    make_user("chutri-khoa", Role.HOST)
    c = Client()
    for i in range(2):
        c.post("/login/", {"username": "chutri-khoa", "password": f"sai-{i}"}, REMOTE_ADDR="10.9.0.1")
    r = c.post("/login/", {"username": "chutri-khoa", "password": "pw-123456"}, REMOTE_ADDR="10.9.0.1")
    assert r.status_code == 429
    text = visible_text(r.content.decode())
    assert "Đăng nhập sai quá nhiều lần" in text and 'class="errornote"' in r.content.decode()
    assert "Tên đăng nhập" in text and not english_in(text)
