"""A document uploaded without a title (issue 12, item 14): rooms see the file's name as a person would write it,
not its slug ("bao-cao_KTXH-2025.pdf" was shown to every room as "bao-cao_KTXH-2025")."""

import io

import pytest

from confserver.agenda import publish

from .conftest import make_pdf


@pytest.mark.parametrize(
    "filename, title",
    [
        ("bao-cao_KTXH-2025.pdf", "Bao cao KTXH 2025"),
        ("to_trinh.so.12.PDF", "To trinh so 12"),
        ("Báo cáo kinh tế - xã hội.pdf", "Báo cáo kinh tế - xã hội"),
        ("C:\\Tai lieu\\ke-hoach-phong-chong-thien-tai.pdf", "Ke hoach phong chong thien tai"),
    ],
)
def test_an_untitled_upload_is_shown_to_rooms_by_its_cleaned_file_name(client, world, item, media, filename, title):
    client.force_login(world.users["host"])
    f = io.BytesIO(make_pdf(2))
    f.name = filename
    r = client.post(f"/api/agenda/meetings/{world.meeting.id}/documents", {"file": f})
    assert r.status_code == 201, r.content
    assert r.json()["title"] == title
    publish.publish(world.users["host"], world.meeting)

    client.force_login(world.users["term_in"])  # an invited room's terminal
    r = client.get(f"/api/agenda/meetings/{world.meeting.id}/documents")
    assert r.status_code == 200 and [d["title"] for d in r.json()] == [title]


def test_a_given_title_is_kept(client, world, media):
    client.force_login(world.users["host"])
    f = io.BytesIO(make_pdf(2))
    f.name = "bao-cao.pdf"
    r = client.post(f"/api/agenda/meetings/{world.meeting.id}/documents", {"file": f, "title": "Báo cáo quý III"})
    assert r.status_code == 201 and r.json()["title"] == "Báo cáo quý III"
