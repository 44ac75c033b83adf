"""What a page shows a person, and the English words that must not be in it (issue 12, item 13):
Django admin's untranslated chrome, English model and field names, raw timeline kinds, JS error text."""

import html
import re

# Whole words or phrases, case-sensitive unless (?i) is given.
ENGLISH = [
    r"Skip",
    r"Toggle",
    r"(?i)\btheme\b",
    r"Log ?in",
    r"Log ?out",
    r"Sign ?(in|out)",
    r"Username",
    r"Password",
    r"(?i)\bpublications?\b",
    r"(?i)read receipts?",
    r"(?i)webhook deliver",
    r"(?i)\btimeline\b",
    r"object \(",
    r"\bcreated\b",
    r"\bAdd\b",
    r"\bChange\b",
    r"\bDelete\b",
    r"\bSave\b",
    r"\bHistory\b",
    r"View site",
    r"\bFilter\b",
    r"\bSearch\b",
    r"\bSelect\b",
    r"\bHome\b",
    r"Welcome",
    r"Model name",
    r"Show counts",
    r"Hide counts",
    r"Django",
    r"(?i)\bparticipations?\b",
    r"Created by",
    r"\bBy kind\b",
    r"\bkind\b",
    r"\bjoin\b",
    r"\bstate\b",
    r"Sidebar",
    r"Breadcrumbs",
    r"\bentries\b",
    r"\bError\b",
    r"Cannot",
    r"\bnull\b",
    r"\bundefined\b",
    r"Failed to",
    r"\bobject\b",
    r"\bdocument (page|version)s?\b",
    r"\bLive ?state\b",
    r"\bmeeting\b",
    r"\broom\b",
    r"\bReset\b",
    r"\bFilter navigation\b",
]


def _word(p: str) -> str:
    """A bare word or phrase matches whole words only."""
    if p.startswith("(?i)") or "\\b" in p:
        return p
    return (r"(?<!\w)" if p[0].isalnum() else "") + p + (r"(?!\w)" if p[-1].isalnum() else "")


_PATTERNS = [re.compile(_word(p)) for p in ENGLISH]


def visible_text(page: str) -> str:
    """An HTML page's text as a person meets it: text nodes, titles, placeholders, labels, button values."""
    page = re.sub(r"(?is)<(script|style|template)\b.*?</\1>", " ", page)
    page = re.sub(r"(?s)<!--.*?-->", " ", page)
    attrs = re.findall(r'(?i)\s(?:title|placeholder|aria-label|alt)="([^"]*)"', page)
    buttons = re.findall(r'(?i)<input[^>]*type="(?:submit|button)"[^>]*value="([^"]*)"', page)
    text = re.sub(r"<[^>]+>", " ", page)
    return re.sub(r"\s+", " ", html.unescape(" ".join([text, *attrs, *buttons])))


def english_in(text: str) -> list[str]:
    """The English words found in `text`, each with a little context."""
    found = []
    for pat in _PATTERNS:
        for m in pat.finditer(text):
            found.append(text[max(0, m.start() - 30) : m.end() + 30].strip())
    return found
