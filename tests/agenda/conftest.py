"""Agenda fixtures: a meeting of Huế with its people, files under a temporary MEDIA_ROOT,
and generated Vietnamese PDFs."""

import io
import random
from dataclasses import dataclass

import pytest

from confserver.accounts.models import Role
from confserver.agenda import agenda, documents
from confserver.agenda.testing import pdfgen
from confserver.rooms import meetings
from confserver.rooms.meetings import Selection
from confserver.rooms.models import AdminUnit, Meeting, Room

PHRASE = "Triển khai họp không giấy tại Đông Hà và Đà Nẵng."


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.AGENDA_WEBHOOK_URL = ""
    # The fixtures make nine accounts; the real password hasher would spend seconds on them.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return settings.MEDIA_ROOT


def files_under(root) -> list:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def make_pdf(n_pages=3, seed=1, extra=None, title="Báo cáo") -> bytes:
    return pdfgen.make_pdf(pdfgen.vietnamese_pages(random.Random(seed), n_pages, extra=extra), title=title)


@pytest.fixture
def phrase_pdf():
    """Five pages; page 4 carries PHRASE."""
    return make_pdf(5, seed=7, extra={3: PHRASE})


@dataclass
class World:
    users: dict
    meeting: Meeting
    other_meeting: Meeting
    room_in: Room
    room_out: Room

    def upload(self, data: bytes, who="host", meeting=None, **kw):
        kw.setdefault("filename", "bao-cao.pdf")
        return documents.upload(self.users[who], meeting or self.meeting, io.BytesIO(data), **kw)


@pytest.fixture
def world(hue2025, make_user, when):
    """The city of Huế hosts a meeting with one invited commune; people around it."""
    hanoi = AdminUnit.objects.create(
        code="01",
        name="Thành phố Hà Nội",
        division_type="thanh_pho_trung_uong",
        level=1,
        parent=AdminUnit.objects.get(code="VN"),
        path="VN.01.",
    )
    communes = list(AdminUnit.objects.filter(parent=hue2025).order_by("code")[:2])
    c_in, c_out = communes
    room_in, room_out = Room.objects.get(unit=c_in), Room.objects.get(unit=c_out)
    users = {
        "host": make_user("host", Role.HOST, unit=hue2025),
        "admin": make_user("adm", Role.ADMIN, unit=AdminUnit.objects.get(code="VN")),
        "commune_host": make_user("chost", Role.HOST, unit=c_in),
        "hanoi_host": make_user("hnhost", Role.HOST, unit=hanoi),
        "reviewer": make_user("rev", Role.REVIEWER, unit=hue2025),
        "hanoi_reviewer": make_user("hnrev", Role.REVIEWER, unit=hanoi),
        "term_in": make_user("t_in", Role.TERMINAL, unit=c_in, room=room_in),
        "term_out": make_user("t_out", Role.TERMINAL, unit=c_out, room=room_out),
        "term_host": make_user("t_host", Role.TERMINAL, unit=hue2025, room=Room.objects.get(unit=hue2025)),
    }
    m = meetings.create_meeting(
        users["host"],
        host_unit_code="46",
        title="Họp giao ban tháng 7",
        scheduled_start=when[0],
        scheduled_end=when[1],
        selection=Selection(mode="units", unit_codes=(c_in.code,)),
    )
    other = meetings.create_meeting(
        users["host"],
        host_unit_code="46",
        title="Họp chuyên đề",
        scheduled_start=when[0],
        scheduled_end=when[1],
        selection=Selection(mode="units", unit_codes=(c_out.code,)),
    )
    return World(users, m, other, room_in, room_out)


@pytest.fixture
def item(world):
    return agenda.create_item(world.users["host"], world.meeting, title="Báo cáo kinh tế - xã hội")
