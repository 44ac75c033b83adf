"""Accent-insensitive Vietnamese search: the right page, with or without diacritics,
đ/d, highlighted snippets cut from the original text, scope and versions."""

import html
import io
import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from confserver.agenda import documents, fold, publish, search
from confserver.errors import DomainError

from .conftest import make_pdf


@pytest.fixture
def docs(world, item, phrase_pdf):
    a = world.upload(phrase_pdf, title="Báo cáo chuyển đổi số", item_id=item.id)
    b = world.upload(
        make_pdf(3, seed=11, extra={1: "Đường dây nóng <b>1022</b> & cổng dịch vụ công."}),
        title="Tờ trình",
        item_id=item.id,
    )
    c = world.upload(
        make_pdf(2, seed=12, extra={0: "Dong Ha không dấu trong văn bản gốc."}),
        meeting=world.other_meeting,
        title="Văn bản không dấu",
    )
    return a, b, c


def hits(user, q, **kw):
    return [(h.document_title, h.page) for h in search.search(user, q, **kw)]


@pytest.mark.parametrize(
    "q",
    [
        "họp không giấy Đông Hà",
        "hop khong giay dong ha",
        "HOP KHONG GIAY DONG HA",
        "Hop khong giay Dong Ha",
        "dong ha da nang",
        "Đà Nẵng hop",
    ],
)
def test_with_or_without_diacritics_finds_the_page(world, docs, q):
    assert ("Báo cáo chuyển đổi số", 4) in hits(world.users["host"], q, meeting=world.meeting)


def test_d_and_dj_match_both_ways(world, docs):
    host = world.users["host"]
    # "Đông Hà" in one document, "Dong Ha" (typed without accents) in another
    assert {h for h in hits(host, "Đông Hà")} >= {("Báo cáo chuyển đổi số", 4), ("Văn bản không dấu", 1)}
    assert {h for h in hits(host, "dong ha")} >= {("Báo cáo chuyển đổi số", 4), ("Văn bản không dấu", 1)}
    assert ("Tờ trình", 2) in hits(host, "duong day nong")


def test_snippet_highlights_the_original_accented_words_and_escapes_the_rest(world, docs):
    [h] = [
        h
        for h in search.search(world.users["host"], "hop khong giay", meeting=world.meeting)
        if h.page == 4 and h.document_title.startswith("Báo cáo")
    ]
    assert "<mark>họp</mark> <mark>không</mark> <mark>giấy</mark>" in h.snippet
    [h] = search.search(world.users["host"], "duong day nong 1022", meeting=world.meeting)
    assert (
        "<mark>Đường</mark> <mark>dây</mark> <mark>nóng</mark> &lt;b&gt;<mark>1022</mark>&lt;/b&gt; &amp;" in h.snippet
    )
    assert "<b>" not in h.snippet


def test_every_word_must_be_on_the_page(world, docs):
    assert hits(world.users["host"], "hop khong giay xylophone", meeting=world.meeting) == []
    # whole words: a prefix or a suffix of "không"/"giấy" is not a hit
    assert hits(world.users["host"], "hop khon", meeting=world.meeting) == []
    assert hits(world.users["host"], "iay", meeting=world.meeting) == []


def test_only_current_versions_are_searched(world, docs):
    a, *_ = docs
    documents.upload_version(world.users["host"], a.document, io.BytesIO(make_pdf(2, seed=99)), filename="v2.pdf")
    assert ("Báo cáo chuyển đổi số", 4) not in hits(world.users["host"], "dong ha da nang")


def test_search_scope_follows_access(world, docs):
    publish.publish(world.users["host"], world.meeting)
    # the invited room sees its meeting's documents, not the other meeting's
    assert {t for t, _ in hits(world.users["term_in"], "dong ha")} == {"Báo cáo chuyển đổi số"}
    # the other meeting is not published: its room finds nothing yet
    assert hits(world.users["term_out"], "dong ha") == []
    assert hits(world.users["hanoi_reviewer"], "dong ha") == []
    assert {t for t, _ in hits(world.users["host"], "dong ha")} == {"Báo cáo chuyển đổi số", "Văn bản không dấu"}


def test_http_search(world, docs, client):
    client.force_login(world.users["host"])
    r = client.get(f"/api/agenda/meetings/{world.meeting.id}/search", {"q": "hop khong giay dong ha"})
    assert r.status_code == 200, r.content
    [hit] = r.json()
    assert hit["page"] == 4 and hit["document_id"] == docs[0].document_id and hit["version_id"] == docs[0].id
    assert "<mark>Đông</mark> <mark>Hà</mark>" in hit["snippet"]
    r = client.get("/api/agenda/search", {"q": "dong ha", "limit": 1})
    assert r.status_code == 200 and len(r.json()) == 1
    r = client.get("/api/agenda/search", {"q": " ,.; "})
    assert r.status_code == 400 and r.json()["code"] == "empty_query"


def test_empty_query_is_refused(world):
    with pytest.raises(DomainError) as err:
        search.search(world.users["host"], "…")
    assert err.value.code == "empty_query"


# --- folding, as properties ---------------------------------------------------------

VIET = "aăâbcdđeêghiklmnoôơpqrstuưvxyàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
words = st.text(alphabet=VIET + VIET.upper(), min_size=1, max_size=8)


@hsettings(max_examples=200, deadline=None)
@given(st.lists(words, min_size=1, max_size=12), st.sampled_from(["NFC", "NFD"]))
def test_fold_strips_every_mark_and_snippet_maps_back(ws, form):
    text = unicodedata.normalize(form, " ".join(ws) + " <&>")
    folded = fold.fold(text)
    assert folded.isascii() or not re.search("[\u0300-\u036f]", folded)
    assert "đ" not in folded and folded == folded.lower()
    assert fold.tokens(folded) == fold.tokens(text)
    term = fold.tokens(ws[0])[0]
    snip = fold.snippet(text, [term], width=10_000)
    marked = re.findall(r"<mark>(.*?)</mark>", snip)
    assert marked and all(fold.fold(html.unescape(m)) == term for m in marked)
    # removing the marks and unescaping gives back the original text
    assert html.unescape(re.sub("</?mark>", "", snip)) == " ".join(text.split())


def test_common_and_rare_word_paths_give_the_same_hits(world, docs, monkeypatch):
    """PostgreSQL starts from the index for rare words and walks newest-first for
    common ones (search.PROBE_CAP); both must answer alike."""
    host = world.users["host"]
    for q in ("dong ha", "hop khong giay", "ngan sach", "1022"):
        monkeypatch.setattr(search, "PROBE_CAP", 2000)
        rare = hits(host, q, limit=100)
        monkeypatch.setattr(search, "PROBE_CAP", 0)
        common = hits(host, q, limit=100)
        assert rare == common and rare
