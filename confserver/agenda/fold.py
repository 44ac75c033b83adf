"""Accent-insensitive Vietnamese text: fold, tokenise, and map hits back to the original.

fold = NFD, drop combining marks, đ→d, lower. `hop khong giay` then matches
`họp không giấy`, and `Đà Nẵng` matches `da nang`.
"""

import html
import re
import unicodedata
from collections.abc import Sequence

# Letters and digits; "_" and punctuation separate words (as PostgreSQL's parser does).
WORD = re.compile(r"[^\W_]+")
# Every combining mark of the BMP; đ/Đ have no decomposition, so they are mapped by hand.
_MARK = re.compile("[" + "".join(chr(cp) for cp in range(0x300, 0x10000) if unicodedata.combining(chr(cp))) + "]")


def fold(text: str) -> str:
    return _MARK.sub("", unicodedata.normalize("NFD", text).lower()).replace("đ", "d")


def _fold_char(ch: str) -> str:
    return ch.lower() if ch.isascii() else fold(ch)


def tokens(text: str) -> list[str]:
    """The folded words of `text`."""
    return WORD.findall(fold(text))


def index_text(text: str) -> str:
    """What is stored for search: folded words, space-separated, padded with spaces
    so a word is always ` word ` (SQLite matches with LIKE '% word %')."""
    return " " + " ".join(tokens(text)) + " "


def fold_with_map(text: str) -> tuple[str, Sequence[int]]:
    """The folded text and, for each folded character, its index in `text`."""
    folded = fold(text)
    # Usual case (NFC text, no loose marks): one folded character per character.
    if len(folded) == len(text) and not _MARK.search(text):
        return folded, range(len(text))
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        f = "" if unicodedata.combining(ch) else _fold_char(ch)
        out.append(f)
        where.extend([i] * len(f))
    return "".join(out), where


def snippet(text: str, terms: list[str], *, width: int = 160) -> str:
    """A window of `text` holding as many distinct query words as possible,
    HTML-escaped, with every whole-word hit in it wrapped in <mark>…</mark>."""
    folded, where = fold_with_map(text)
    pattern = None
    if terms:
        alts = "|".join(re.escape(t) for t in sorted(set(terms), key=len, reverse=True))
        pattern = re.compile(r"(?<![^\W_])(?:" + alts + r")(?![^\W_])")
    hits = (
        []
        if pattern is None
        else [
            (where[m.start()], _after_marks(text, where[m.end() - 1] + 1), m.group()) for m in pattern.finditer(folded)
        ]
    )
    if not hits:
        return html.escape(_squash(text[:width]))
    start = max(0, _best_anchor(hits, width * 2 // 3) - width // 3)
    end = min(len(text), start + width)
    # Do not cut a word in two at the window's edges.
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    while end < len(text) and not text[end].isspace():
        end += 1
    parts, pos = [], start
    for a, b, _ in hits:
        if a < start or b > end:
            continue
        parts.append(html.escape(text[pos:a]))
        parts.append("<mark>" + html.escape(text[a:b]) + "</mark>")
        pos = b
    parts.append(html.escape(text[pos:end]))
    return ("…" if start > 0 else "") + _squash("".join(parts)) + ("…" if end < len(text) else "")


def _best_anchor(hits: list[tuple[int, int, str]], span: int) -> int:
    """Start of the first hit whose next `span` characters hold the most distinct words
    (sliding window over the hits, which come in text order)."""
    counts: dict[str, int] = {}
    best, best_n, j = hits[0][0], 0, 0
    for i, (a, _, _) in enumerate(hits):
        j = max(j, i)
        while j < len(hits) and hits[j][1] <= a + span:
            counts[hits[j][2]] = counts.get(hits[j][2], 0) + 1
            j += 1
        if len(counts) > best_n:
            best, best_n = a, len(counts)
        w = hits[i][2]
        if j > i:
            counts[w] -= 1
            if not counts[w]:
                del counts[w]
    return best


def _after_marks(text: str, i: int) -> int:
    """Move past combining marks, so a hit ending in a decomposed "ọ" keeps its dot."""
    while i < len(text) and unicodedata.combining(text[i]):
        i += 1
    return i


def _squash(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()
