"""HTTP byte ranges (RFC 9110 §14) for serving segments: Chromium seeks in a <video> only through them."""

import re

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


BEYOND = 10**18  # larger than any file: what a number of more digits stands for


def _number(digits: str) -> int:
    """A position of any length: Python refuses int() of over 4,300 digits (a 500), and none of these is
    needed: anything past 18 digits lies beyond every file."""
    digits = digits.lstrip("0") or "0"
    return BEYOND if len(digits) > 18 else int(digits)


class Unsatisfiable(Exception):
    """No byte of the file is in the range: 416 with `Content-Range: bytes */size`."""


def parse(header: str | None, size: int) -> tuple[int, int] | None:
    """The first..last byte (inclusive) to send, or None for the whole file (200).

    None also for a header we ignore, as the RFC allows: a malformed one, a non-bytes unit, and several
    ranges (`bytes=0-1,5-9`; players never ask for them, and a multipart body is not worth having).
    """
    if not header or "," in header:
        return None
    m = _RANGE.match(header)
    if m is None:
        return None
    first, last = m.groups()
    if first == "" and last == "":
        return None
    if first == "":  # bytes=-n: the last n bytes
        n = _number(last)
        if n == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - n), size - 1
    start = _number(first)
    end = _number(last) if last else size - 1
    if last and end < start:
        return None  # syntactically invalid: ignored
    if start >= size:
        raise Unsatisfiable
    return start, min(end, size - 1)
