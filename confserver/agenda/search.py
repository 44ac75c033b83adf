"""Accent-insensitive full-text search over document pages.

Query and pages are folded the same way (fold.py), and a page matches when it
holds every word of the query. PostgreSQL answers from its full-text index
(a stored to_tsvector('simple', folded) with a GIN index, migration 0002);
other databases match ' word ' in the padded folded text. Both give the same
pages. Snippets are cut from the original text, hits wrapped in <mark>,
everything else HTML-escaped.
"""

from dataclasses import dataclass

from django.db import connection
from django.db.models import F, Lookup

from confserver.errors import DomainError
from confserver.rooms.models import Meeting

from . import access, fold
from .models import Document, DocumentPage

MAX_TERMS = 10
MAX_LIMIT = 100
PROBE_CAP = 2000


class AllWords(Lookup):
    """`folded__all_words=["hop", "khong"]`: the page holds every (folded) word."""

    lookup_name = "all_words"
    prepare_rhs = False
    can_use_none_as_rhs = False

    def get_db_prep_lookup(self, value, connection):
        return ("%s", [" & ".join(value)])

    def as_postgresql(self, compiler, connection):
        # The stored, GIN-indexed tsvector of migration 0002, on the same table alias.
        qn = compiler.quote_name_unless_alias
        fts = f"{qn(self.lhs.alias)}.{qn('fts')}"
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{fts} @@ to_tsquery('simple'::regconfig, {rhs})", rhs_params

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        conds = " AND ".join([f"{lhs} LIKE %s"] * len(self.rhs))
        return f"({conds})", [p for t in self.rhs for p in (*lhs_params, f"% {t} %")]


DocumentPage._meta.get_field("folded").register_lookup(AllWords)


@dataclass(frozen=True)
class Hit:
    meeting_id: int
    document_id: int
    document_title: str
    version_id: int
    version: int
    page: int
    snippet: str


def _matching_pages(terms: list[str]):
    """Pages holding every term, shaped for a search across all the user's meetings.

    On PostgreSQL, probe the index first. Few matches (a rare word): start from
    them. Many (a word on most pages): walk pages newest-first, which follows an
    index and stops after `limit` hits. Left to itself, the planner guesses 0.5%
    of pages for any word it has no statistics on, and in the bench either
    walked every page for a rare word or sorted every hit of a common one.
    """
    qs = DocumentPage.objects.filter(folded__all_words=terms)
    if connection.vendor != "postgresql":
        return qs
    with connection.cursor() as c:
        c.execute(
            "SELECT id FROM agenda_documentpage WHERE fts @@ to_tsquery('simple'::regconfig, %s) LIMIT %s",
            [" & ".join(terms), PROBE_CAP + 1],
        )
        ids = [r[0] for r in c.fetchall()]
    return DocumentPage.objects.filter(id__in=ids) if len(ids) <= PROBE_CAP else qs


def query_terms(q: str) -> list[str]:
    terms = list(dict.fromkeys(fold.tokens(q)))[:MAX_TERMS]
    if not terms:
        raise DomainError("empty_query", "Hãy nhập từ cần tìm.")
    return terms


def search(user, q: str, *, meeting: Meeting | None = None, limit: int = 20) -> list[Hit]:
    """Pages of current document versions `user` may open that hold every word of `q`,
    with or without Vietnamese diacritics: in one meeting (agenda order), or across
    everything the user may open (newest first)."""
    terms = query_terms(q)
    limit = max(1, min(limit, MAX_LIMIT))
    if meeting is not None:
        role = access.check_can_read(user, meeting)
        docs = Document.objects.filter(meeting=meeting)
        if role == access.REVIEWER:
            docs = docs.filter(confidential=False)
        order = (F("version__document__item__position").asc(nulls_last=True), "version__document_id", "number")
        pages = DocumentPage.objects.filter(folded__all_words=terms)
    else:
        docs = access.readable_documents(user)
        order = ("-version_id", "number")  # newest uploads first
        pages = _matching_pages(terms)
    rows = (
        pages.filter(version__is_current=True, version__document__in=docs.values("id"))
        .order_by(*order)
        .values_list(
            "version__document__meeting_id",
            "version__document_id",
            "version__document__title",
            "version_id",
            "version__number",
            "number",
            "text",
        )[:limit]
    )
    return [
        Hit(
            meeting_id=m,
            document_id=d,
            document_title=t,
            version_id=v,
            version=n,
            page=p,
            snippet=fold.snippet(text, terms),
        )
        for m, d, t, v, n, p, text in rows
    ]
