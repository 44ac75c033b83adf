"""Who may read what: drafts, confidential documents, rooms not invited, reviewers,
hosts outside the subtree; in the domain and over HTTP with coded errors."""

import pytest

from confserver.agenda import access, documents, publish, search
from confserver.agenda.models import ReadReceipt
from confserver.errors import Forbidden
from confserver.rooms import tokens

from .conftest import PHRASE, make_pdf


@pytest.fixture
def docs(world, item, phrase_pdf):
    public = world.upload(phrase_pdf, title="Báo cáo công khai", item_id=item.id)
    secret = world.upload(
        make_pdf(2, seed=9, extra={1: "Phương án nhân sự họp không giấy mật."}),
        title="Phương án nhân sự",
        item_id=item.id,
        confidential=True,
    )
    return public, secret


def bearer(user, meeting):
    return {"HTTP_AUTHORIZATION": f"Bearer {tokens.make_room_token(user, meeting)}"}


def codes(world, doc):
    out = {}
    for who, user in world.users.items():
        try:
            access.check_can_open(user, doc)
            out[who] = "ok"
        except Forbidden as e:
            out[who] = e.code
    return out


def test_drafts_are_for_the_chair_side_only(world, docs):
    public, secret = docs
    assert codes(world, public.document) == {
        "host": "ok",
        "admin": "ok",
        "commune_host": "outside_subtree",
        "hanoi_host": "outside_subtree",
        "reviewer": "agenda_not_published",
        "hanoi_reviewer": "not_visible",
        "term_in": "agenda_not_published",
        "term_host": "agenda_not_published",
        "term_out": "room_not_invited",
    }


def test_after_publication(world, docs):
    public, secret = docs
    publish.publish(world.users["host"], world.meeting)
    assert codes(world, public.document) == {
        "host": "ok",
        "admin": "ok",
        "commune_host": "outside_subtree",
        "hanoi_host": "outside_subtree",
        "reviewer": "ok",
        "hanoi_reviewer": "not_visible",
        "term_in": "ok",
        "term_host": "ok",
        "term_out": "room_not_invited",
    }
    # confidential: the invited rooms and the chair side, nobody else
    assert codes(world, secret.document) == {
        "host": "ok",
        "admin": "ok",
        "commune_host": "outside_subtree",
        "hanoi_host": "outside_subtree",
        "reviewer": "confidential",
        "hanoi_reviewer": "not_visible",
        "term_in": "ok",
        "term_host": "ok",
        "term_out": "room_not_invited",
    }


def test_reviewers_do_not_even_see_confidential_titles(world, docs):
    public, secret = docs
    publish.publish(world.users["host"], world.meeting)
    assert [d.title for d in documents.documents_for(world.users["reviewer"], world.meeting)] == ["Báo cáo công khai"]
    assert {d.title for d in documents.documents_for(world.users["term_in"], world.meeting)} == {
        "Báo cáo công khai",
        "Phương án nhân sự",
    }
    # and search does not leak them either
    assert {h.document_title for h in search.search(world.users["reviewer"], "hop khong giay")} == {"Báo cáo công khai"}
    assert {h.document_title for h in search.search(world.users["term_in"], "hop khong giay")} == {
        "Báo cáo công khai",
        "Phương án nhân sự",
    }


def test_a_started_meeting_is_released_without_publication(world, docs):
    public, _ = docs
    from confserver.rooms import meetings

    meetings.change_state(world.users["host"], world.meeting.id, "test_run")
    public.document.meeting.refresh_from_db()
    assert access.check_can_open(world.users["term_in"], public.document) == access.ROOM


def test_http_refusals_are_coded(world, docs, client):
    public, secret = docs
    publish.publish(world.users["host"], world.meeting)
    page = f"/api/agenda/versions/{secret.id}/pages/1?width=480"
    r = client.get(page, **bearer(world.users["term_out"], world.meeting))
    assert r.status_code == 403 and r.json()["code"] == "room_not_invited"
    # refused before the page checks: an outsider does not learn the page count
    r = client.get(f"/api/agenda/versions/{secret.id}/pages/99", **bearer(world.users["term_out"], world.meeting))
    assert r.status_code == 403 and r.json()["code"] == "room_not_invited"
    client.force_login(world.users["reviewer"])
    r = client.get(page)
    assert r.status_code == 403 and r.json()["code"] == "confidential"
    r = client.get(f"/api/agenda/versions/{secret.id}/file")
    assert r.status_code == 403 and r.json()["code"] == "confidential"
    assert client.get(f"/api/agenda/versions/{public.id}/pages/1?width=480").status_code == 200
    client.force_login(world.users["hanoi_host"])
    r = client.get(f"/api/agenda/meetings/{world.meeting.id}/documents")
    assert r.status_code == 403 and r.json()["code"] == "outside_subtree"
    client.logout()
    r = client.get(page, **bearer(world.users["term_in"], world.meeting))
    assert r.status_code == 200 and r["Content-Type"] == "image/png"
    # refusals leave no read receipt; the invited room's opening does
    assert list(ReadReceipt.objects.values_list("room_id", flat=True)) == [world.room_in.id]
    r = client.get(page)
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"


def test_phrase_fixture_is_where_we_think(phrase_pdf):
    assert PHRASE.startswith("Triển khai")
