"""Issue 9, finding 13: every error code the code raises is documented in docs/protocol.md."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A literal code as the first argument of an error's constructor, or as a response's "code" value.
RAISED = re.compile(
    r"""\b(?:DomainError|Forbidden|NotFound|Conflict|ProtocolError|[A-Z]\w*(?:Error|Refused|Denied))"""
    r"""\(\s*f?["']([a-z][a-z0-9_.]*)["']|["']code["']\s*:\s*["']([a-z][a-z0-9_.]*)["']"""
)


def raised_codes() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "confserver").rglob("*.py")):
        for m in RAISED.finditer(path.read_text(encoding="utf-8")):
            found.setdefault(m.group(1) or m.group(2), set()).add(str(path.relative_to(ROOT)))
    return found


def test_the_scan_finds_codes_we_know_are_raised():
    codes = raised_codes()
    assert {"meeting_not_found", "not_presenter", "media.bad_offer", "bad_json", "invalid_field"} <= set(codes)


def test_every_raised_code_is_documented():
    doc = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    missing = {code: sorted(where) for code, where in raised_codes().items() if f"`{code}`" not in doc}
    assert not missing, f"codes raised but not in docs/protocol.md: {missing}"
