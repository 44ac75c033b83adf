"""Hostile PDFs for bench/hostile.py: a huge page box, and a flate bomb (about 1 MB on disk,
1 GB once decoded). Used when confserver/agenda/testing/pdfgen.py has none (older trees)."""

import zlib

BOMB_DECODED = 1 << 30  # bytes a bomb decodes to
_CHUNK = 1 << 20


def _pdf(objects: list[bytes]) -> bytes:
    """A PDF from the bodies of objects 1..n (1 is the catalog), with a correct xref."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def _deflated(pattern: bytes, total: int) -> bytes:
    """`pattern` repeated to `total` bytes (a multiple of 1 MB), as a zlib stream, without
    compressing it all: after a full flush each 1 MB block deflates to the same bytes."""
    block = (pattern * (_CHUNK // len(pattern) + 1))[:_CHUNK]
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    one = z.compress(block) + z.flush(zlib.Z_FULL_FLUSH)
    adler = 1
    for _ in range(total // _CHUNK):
        adler = zlib.adler32(block, adler)
    return b"\x78\xda" + one * (total // _CHUNK) + b"\x03\x00" + adler.to_bytes(4, "big")


def tall_page() -> bytes:
    """One 100 x 14,400 pt page (the largest box PDF allows): 1600 px wide is 230,400 px tall."""
    content = b"0 0 1 rg 10 10 80 14380 re f"
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 14400] /Contents 4 0 R >>",
            _stream(content),
        ]
    )


def content_bomb() -> bytes:
    """An A4 page whose content stream decodes to ~1 GB of drawing operators."""
    data = _deflated(b" ", BOMB_DECODED)
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
            _stream(data, b"/Filter /FlateDecode "),
        ]
    )


def all_hostile() -> dict[str, bytes]:
    """The probe's two documents: confserver's own generator when it has them, else the ones here."""
    try:
        from confserver.agenda.testing import pdfgen

        return {"tall_page": pdfgen.huge_page_pdf(), "flate_bomb": pdfgen.flate_bomb_pdf()}
    except (ImportError, AttributeError):
        return {"tall_page": tall_page(), "flate_bomb": content_bomb()}
