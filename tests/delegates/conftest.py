"""Delegate fixtures: the agenda's world (Huế hosts a meeting with one invited commune) and delegates in it."""

import pytest

from confserver.delegates import roster, tokens
from tests.agenda.conftest import item, media, world  # noqa: F401  (fixtures)


@pytest.fixture
def people(world):  # noqa: F811
    """Two hall delegates and one in the invited commune's room, and one delegate of the other meeting."""
    host = world.users["host"]
    a = roster.create(host, world.meeting, {"name": "Nguyễn Văn An", "position": "Đại biểu", "phone": "0905000001"})
    b = roster.create(host, world.meeting, {"name": "Trần Thị Bình", "phone": "0905000002"})
    c = roster.create(
        host,
        world.meeting,
        {"name": "Lê Văn Cường", "seat": "room", "room_id": world.room_in.pk, "email": "cuong@example.vn"},
    )
    other = roster.create(host, world.other_meeting, {"name": "Phạm Thị Dung", "phone": "0905000009"})
    return {"a": a, "b": b, "c": c, "other": other}


def auth(delegate) -> dict:
    return {"HTTP_AUTHORIZATION": f"Delegate {tokens.issue(delegate)}"}
