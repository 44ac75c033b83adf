"""A tiny PDF writer for tests and the bench: multi-page Vietnamese text in an
embedded, subset TrueType font (DejaVu Sans), extractable by any PDF reader.

No third-party PDF library: a Type0/CIDFontType2 font with Identity-H glyph ids,
a ToUnicode map so text extraction gives back the Vietnamese, and a classic
xref table so pyHanko can sign the result incrementally.
"""

import functools
import random
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

FONT_PATHS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)
PAGE_W, PAGE_H = 595, 842  # A4 in points
MARGIN = 56
PRODUCER = "confserver pdfgen"


def font_path() -> Path:
    for p in FONT_PATHS:
        if p.exists():
            return p
    raise FileNotFoundError("DejaVuSans.ttf not found (Debian: apt-get install fonts-dejavu-core)")


@dataclass(frozen=True)
class TrueType:
    data: bytes
    tables: dict  # tag -> (offset, length)
    units_per_em: int
    bbox: tuple
    ascent: int
    descent: int
    num_glyphs: int
    advances: tuple  # per glyph id
    cmap: dict  # code point -> glyph id

    def table(self, tag: str) -> bytes:
        off, n = self.tables[tag]
        return self.data[off : off + n]


@functools.lru_cache(maxsize=2)
def load_font(path: Path | None = None) -> TrueType:
    data = (path or font_path()).read_bytes()
    n_tables = struct.unpack(">H", data[4:6])[0]
    tables = {}
    for i in range(n_tables):
        tag, _sum, off, length = struct.unpack(">4sIII", data[12 + 16 * i : 28 + 16 * i])
        tables[tag.decode("latin-1")] = (off, length)

    def tab(tag):
        off, n = tables[tag]
        return data[off : off + n]

    head, hhea, maxp = tab("head"), tab("hhea"), tab("maxp")
    upem = struct.unpack(">H", head[18:20])[0]
    bbox = struct.unpack(">hhhh", head[36:44])
    ascent, descent = struct.unpack(">hh", hhea[4:8])
    n_hmetrics = struct.unpack(">H", hhea[34:36])[0]
    num_glyphs = struct.unpack(">H", maxp[4:6])[0]
    hmtx = tab("hmtx")
    adv = [struct.unpack(">H", hmtx[4 * i : 4 * i + 2])[0] for i in range(n_hmetrics)]
    adv += [adv[-1]] * (num_glyphs - n_hmetrics)
    return TrueType(data, tables, upem, bbox, ascent, descent, num_glyphs, tuple(adv), _read_cmap(tab("cmap")))


def _read_cmap(cmap: bytes) -> dict:
    """Unicode BMP map from the (3,1) format-4 subtable."""
    n = struct.unpack(">H", cmap[2:4])[0]
    for i in range(n):
        pid, eid, off = struct.unpack(">HHI", cmap[4 + 8 * i : 12 + 8 * i])
        if (pid, eid) == (3, 1) and struct.unpack(">H", cmap[off : off + 2])[0] == 4:
            break
    else:
        raise ValueError("font has no Unicode BMP cmap")
    sub = cmap[off:]
    segx2 = struct.unpack(">H", sub[6:8])[0]
    seg = segx2 // 2
    ends = struct.unpack(f">{seg}H", sub[14 : 14 + segx2])
    starts = struct.unpack(f">{seg}H", sub[16 + segx2 : 16 + 2 * segx2])
    deltas = struct.unpack(f">{seg}h", sub[16 + 2 * segx2 : 16 + 3 * segx2])
    ro_base = 16 + 3 * segx2
    offsets = struct.unpack(f">{seg}H", sub[ro_base : ro_base + segx2])
    out = {}
    for k in range(seg):
        for cp in range(starts[k], ends[k] + 1):
            if cp == 0xFFFF:
                continue
            if offsets[k] == 0:
                gid = (cp + deltas[k]) & 0xFFFF
            else:
                pos = ro_base + 2 * k + offsets[k] + 2 * (cp - starts[k])
                gid = struct.unpack(">H", sub[pos : pos + 2])[0]
                if gid:
                    gid = (gid + deltas[k]) & 0xFFFF
            if gid:
                out[cp] = gid
    return out


def _glyph_ranges(font: TrueType) -> list[tuple[int, int]]:
    head, loca = font.table("head"), font.table("loca")
    long_loca = struct.unpack(">h", head[50:52])[0] == 1
    n = font.num_glyphs + 1
    if long_loca:
        offs = struct.unpack(f">{n}I", loca[: 4 * n])
    else:
        offs = [2 * o for o in struct.unpack(f">{n}H", loca[: 2 * n])]
    return [(offs[i], offs[i + 1]) for i in range(font.num_glyphs)]


def _components(glyph: bytes) -> list[int]:
    """Glyph ids a composite glyph is built from (Vietnamese letters are base + marks)."""
    if len(glyph) < 10 or struct.unpack(">h", glyph[:2])[0] >= 0:
        return []
    out, pos = [], 10
    while True:
        flags, gid = struct.unpack(">HH", glyph[pos : pos + 4])
        out.append(gid)
        pos += 4 + (4 if flags & 0x0001 else 2)
        pos += 2 if flags & 0x0008 else 4 if flags & 0x0040 else 8 if flags & 0x0080 else 0
        if not flags & 0x0020:
            return out


def subset(font: TrueType, gids: set[int]) -> bytes:
    """The font with every glyph outside `gids` (and their components) emptied;
    glyph ids stay the same, so the PDF can use Identity mapping."""
    glyf = font.table("glyf")
    ranges = _glyph_ranges(font)
    keep, todo = set(), set(gids) | {0}
    while todo:
        g = todo.pop()
        if g in keep or g >= font.num_glyphs:
            continue
        keep.add(g)
        a, b = ranges[g]
        todo.update(_components(glyf[a:b]))
    new_glyf, loca = bytearray(), []
    for g in range(font.num_glyphs):
        loca.append(len(new_glyf))
        if g in keep:
            a, b = ranges[g]
            new_glyf += glyf[a:b]
            new_glyf += b"\0" * (-len(new_glyf) % 4)
    loca.append(len(new_glyf))
    head = bytearray(font.table("head"))
    head[8:12] = b"\0\0\0\0"  # checkSumAdjustment: not needed by readers
    head[50:52] = struct.pack(">h", 1)  # long loca
    tables = {"head": bytes(head), "loca": struct.pack(f">{len(loca)}I", *loca), "glyf": bytes(new_glyf)}
    for tag in ("hhea", "maxp", "hmtx", "cvt ", "fpgm", "prep", "OS/2"):
        if tag in font.tables:
            tables[tag] = font.table(tag)
    return _sfnt(tables)


def _sfnt(tables: dict[str, bytes]) -> bytes:
    tags = sorted(tables)
    n = len(tags)
    es = n.bit_length() - 1
    out = bytearray(struct.pack(">IHHHH", 0x00010000, n, 16 << es, es, n * 16 - (16 << es)))
    offset = 12 + 16 * n
    body = bytearray()
    for tag in tags:
        data = tables[tag]
        padded = data + b"\0" * (-len(data) % 4)
        checksum = sum(struct.unpack(f">{len(padded) // 4}I", padded)) & 0xFFFFFFFF
        out += struct.pack(">4sIII", tag.encode("latin-1"), checksum, offset + len(body), len(data))
        body += padded
    return bytes(out + body)


def _pdf_text(s: str) -> bytes:
    """A PDF text string: UTF-16BE with BOM, hex-encoded (safe for any title)."""
    return b"<FEFF" + s.encode("utf-16-be").hex().upper().encode() + b">"


def _wrap(font: TrueType, text: str, size: float, width: float) -> list[str]:
    def w(s):
        return sum(font.advances[font.cmap.get(ord(c), 0)] for c in s) * size / font.units_per_em

    lines = []
    for para in text.split("\n"):
        line = ""
        for word in para.split(" "):
            cand = f"{line} {word}" if line else word
            if line and w(cand) > width:
                lines.append(line)
                line = word
            else:
                line = cand
        lines.append(line)
    return lines


def make_pdf(pages: list[str], *, title: str = "Tài liệu", font_size: float = 12, compress: bool = True) -> bytes:
    """A PDF with one page per string of `pages` (wrapped; what does not fit is cut)."""
    font = load_font()
    leading = font_size * 1.4
    max_lines = int((PAGE_H - 2 * MARGIN) // leading)
    page_lines = [_wrap(font, p, font_size, PAGE_W - 2 * MARGIN)[:max_lines] for p in pages]
    used = {font.cmap.get(ord(c), 0): c for lines in page_lines for line in lines for c in line}
    used.pop(0, None)

    objs: list[bytes] = []

    def add(body: bytes) -> int:
        objs.append(body)
        return len(objs)

    def stream(data: bytes, extra: bytes = b"") -> bytes:
        if compress:
            data = zlib.compress(data, 6)
            extra += b" /Filter /FlateDecode"
        return b"<< /Length %d%s >>\nstream\n" % (len(data), extra) + data + b"\nendstream"

    catalog = add(b"")  # filled in below, once the pages object exists
    pages_id = add(b"")
    sub = subset(font, set(used))
    font_file = add(stream(sub, b" /Length1 %d" % len(sub)))
    scale = 1000 / font.units_per_em
    bbox = " ".join(str(round(v * scale)) for v in font.bbox).encode()
    descriptor = add(
        b"<< /Type /FontDescriptor /FontName /AAAAAA+DejaVuSans /Flags 32 /FontBBox [" + bbox + b"]"
        b" /ItalicAngle 0 /Ascent %d /Descent %d /CapHeight %d /StemV 80 /FontFile2 %d 0 R >>"
        % (round(font.ascent * scale), round(font.descent * scale), round(font.ascent * scale), font_file)
    )
    widths = b" ".join(b"%d [%d]" % (g, round(font.advances[g] * scale)) for g in sorted(used))
    cidfont = add(
        b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /AAAAAA+DejaVuSans"
        b" /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >>"
        b" /FontDescriptor %d 0 R /DW 600 /W [%s] /CIDToGIDMap /Identity >>" % (descriptor, widths)
    )
    tounicode = add(stream(_to_unicode(used)))
    type0 = add(
        b"<< /Type /Font /Subtype /Type0 /BaseFont /AAAAAA+DejaVuSans /Encoding /Identity-H"
        b" /DescendantFonts [%d 0 R] /ToUnicode %d 0 R >>" % (cidfont, tounicode)
    )

    kids = []
    for lines in page_lines:
        ops = [b"BT /F1 %g Tf %g TL %d %g Td" % (font_size, leading, MARGIN, PAGE_H - MARGIN - font_size)]
        for line in lines:
            gids = "".join(f"{font.cmap.get(ord(c), 0):04X}" for c in line)
            ops.append(b"<" + gids.encode() + b"> Tj T*")
        ops.append(b"ET")
        content = add(stream(b"\n".join(ops)))
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] /Contents %d 0 R"
                b" /Resources << /Font << /F1 %d 0 R >> >> >>" % (pages_id, PAGE_W, PAGE_H, content, type0)
            )
        )
    objs[pages_id - 1] = b"<< /Type /Pages /Count %d /Kids [%s] >>" % (
        len(kids),
        b" ".join(b"%d 0 R" % k for k in kids),
    )
    objs[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id
    info = add(b"<< /Title " + _pdf_text(title) + b" /Producer (" + PRODUCER.encode() + b") >>")
    return assemble(objs, catalog, info)


def assemble(objs: list[bytes], root: int, info: int | None = None) -> bytes:
    """A PDF file of `objs` (object i+1 is objs[i]) with a classic xref table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    info_ref = b" /Info %d 0 R" % info if info else b""
    out += b"trailer\n<< /Size %d /Root %d 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, root, info_ref, xref)
    return bytes(out)


def _to_unicode(used: dict[int, str]) -> bytes:
    lines = [
        b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap",
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        b"/CMapName /Adobe-Identity-UCS def /CMapType 2 def",
        b"1 begincodespacerange <0000> <FFFF> endcodespacerange",
    ]
    items = sorted(used.items())
    for i in range(0, len(items), 100):
        chunk = items[i : i + 100]
        lines.append(b"%d beginbfchar" % len(chunk))
        lines += [b"<%04X> <%s>" % (g, c.encode("utf-16-be").hex().upper().encode()) for g, c in chunk]
        lines.append(b"endbfchar")
    lines.append(b"endcmap CMapName currentdict /CMap defineresource pop end end")
    return b"\n".join(lines)


# Vocabulary for generated meeting documents (bench and tests).
PHRASES = [
    "Ủy ban nhân dân tỉnh",
    "Hội đồng nhân dân",
    "họp không giấy",
    "chuyển đổi số",
    "đầu tư công",
    "giải ngân vốn",
    "kinh tế - xã hội",
    "phòng chống thiên tai",
    "đường giao thông nông thôn",
    "xây dựng nông thôn mới",
    "cải cách hành chính",
    "dịch vụ công trực tuyến",
    "ngân sách địa phương",
    "an sinh xã hội",
    "bảo vệ môi trường",
    "quy hoạch sử dụng đất",
    "giáo dục và đào tạo",
    "y tế cơ sở",
    "du lịch di sản",
    "Đề án sắp xếp đơn vị hành chính",
    "bão lũ miền Trung",
    "thu ngân sách nhà nước",
    "kế hoạch năm 2025",
    "báo cáo tình hình",
    "tờ trình",
    "nghị quyết",
    "quyết định",
    "công văn",
    "đồng chí Chủ tịch",
    "Sở Tài chính",
    "Sở Kế hoạch và Đầu tư",
    "Sở Nội vụ",
    "Sở Giáo dục và Đào tạo",
    "Đài Phát thanh và Truyền hình",
    "Công an tỉnh",
    "Bộ Chỉ huy Quân sự",
    "trường học",
    "bệnh viện",
    "cầu Trường Tiền",
    "sông Hương",
    "Đại Nội",
    "cửa khẩu",
    "khu công nghiệp",
    "hợp tác xã",
    "nước sạch",
    "điện lưới",
    "thủy lợi",
    "rừng phòng hộ",
]
FILLER = [
    "và",
    "của",
    "về",
    "trong",
    "đối với",
    "theo",
    "để",
    "đã",
    "sẽ",
    "được",
    "tiếp tục",
    "tăng cường",
    "triển khai",
    "hoàn thành",
    "đánh giá",
    "đề nghị",
    "thống nhất",
    "chỉ đạo",
    "thực hiện",
    "kết quả",
]


def vietnamese_pages(
    rng: random.Random, n_pages: int, *, sentences: int = 12, extra: dict[int, str] | None = None
) -> list[str]:
    """`n_pages` pages of plausible meeting-document prose; `extra` puts a given
    sentence on a given page (0-based), so a test knows where a phrase is."""
    pages = []
    for i in range(n_pages):
        sents = []
        for _ in range(sentences):
            words = [rng.choice(PHRASES if rng.random() < 0.45 else FILLER) for _ in range(rng.randint(6, 12))]
            s = " ".join(words)
            sents.append(s[0].upper() + s[1:] + ".")
        if extra and i in extra:
            sents.insert(rng.randint(0, len(sents)), extra[i])
        pages.append(f"Trang {i + 1}\n" + " ".join(sents))
    return pages


# --- Hostile PDFs: what the upload checks and the page renderer must survive (tests, bench/hostile.py) ---


def page_box_pdf(
    media_box: bytes, *, rotate: int | None = None, pages: int = 1, content: bytes = b"0 0 1 rg 10 10 50 50 re f"
) -> bytes:
    """`pages` pages whose MediaBox is `media_box` written verbatim (b"[0 0 0 0]", b"[0 0 -595 -842]",
    b"[0 0 1e39 842]", ...), optionally with /Rotate."""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
    ]
    rot = b" /Rotate %d" % rotate if rotate is not None else b""
    kids = []
    for _ in range(pages):
        objs.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox %s%s /Contents 3 0 R /Resources << >> >>" % (media_box, rot)
        )
        kids.append(len(objs))
    objs[1] = b"<< /Type /Pages /Count %d /Kids [%s] >>" % (len(kids), b" ".join(b"%d 0 R" % k for k in kids))
    return assemble(objs, 1)


def huge_page_pdf(width: float = 100, height: float = 14400) -> bytes:
    """One page of `width` × `height` points (the probe's 100 × 14,400 pt strip: 1600 × 230,400 px at 1600)."""
    return page_box_pdf(b"[0 0 %g %g]" % (width, height))


def _flate_of_repeated(byte: bytes, size: int) -> bytes:
    """zlib data of `byte` * `size`, made in well under a second: after a full flush deflate starts afresh,
    so every 1 MB block compresses to the same bytes and is written once, then repeated."""
    block = byte * (1024 * 1024)
    n, rest = divmod(size, len(block))
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = z.compress(block) + z.flush(zlib.Z_FULL_FLUSH)
    adler = 1
    for _ in range(n):
        adler = zlib.adler32(block, adler)
    adler = zlib.adler32(byte * rest, adler)
    return b"\x78\xda" + packed * n + z.compress(byte * rest) + z.flush() + struct.pack(">I", adler & 0xFFFFFFFF)


@functools.lru_cache(maxsize=4)
def flate_bomb_pdf(decoded_mb: int = 1024) -> bytes:
    """An A4 page whose content stream inflates from ~1 MB (at 1024) to `decoded_mb` MB of spaces."""
    data = _flate_of_repeated(b" ", decoded_mb * 1024 * 1024)
    return assemble(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Count 1 /Kids [3 0 R] >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << >> >>",
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream",
        ],
        1,
    )


@functools.lru_cache(maxsize=4)
def image_bomb_pdf(side: int = 30000) -> bytes:
    """An A4 page showing one `side` × `side` grey image (900 MB decoded at 30,000) that compresses to ~1 MB."""
    data = _flate_of_repeated(b"\x80", side * side)
    return assemble(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Count 1 /Kids [3 0 R] >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
            b" /Resources << /XObject << /Im1 5 0 R >> >> >>",
            b"<< /Length 33 >>\nstream\nq 500 0 0 500 40 200 cm /Im1 Do Q\nendstream",
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8"
            b" /Length %d /Filter /FlateDecode >>\nstream\n" % (side, side, len(data)) + data + b"\nendstream",
        ],
        1,
    )


def scanned_pdf(pages: int = 10, side: int = 2236, seed: int = 1) -> bytes:
    """A legitimate heavy document: `pages` A4 pages, each one incompressible `side` × `side` grey
    image stored unfiltered (10 × 2236² ≈ 50 MB, like a scan)."""
    rng = random.Random(seed)
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    kids = []
    draw = b"q 500 0 0 700 47 71 cm /Im1 Do Q"
    for _ in range(pages):
        pixels = rng.randbytes(side * side)
        objs.append(
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray"
            b" /BitsPerComponent 8 /Length %d >>\nstream\n" % (side, side, len(pixels)) + pixels + b"\nendstream"
        )
        objs.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(draw), draw))
        objs.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R"
            b" /Resources << /XObject << /Im1 %d 0 R >> >> >>" % (len(objs), len(objs) - 1)
        )
        kids.append(len(objs))
    objs[1] = b"<< /Type /Pages /Count %d /Kids [%s] >>" % (len(kids), b" ".join(b"%d 0 R" % k for k in kids))
    return assemble(objs, 1)


@functools.lru_cache(maxsize=4)
def slow_page_pdf(squares: int = 50_000, repeat: int = 10, pages: int = 1) -> bytes:
    """`pages` A4 pages sharing one content stream that paints one path of `squares` overlapping squares
    `repeat` times: small, seconds of CPU to render, and `pages` times one page's parsing to check."""
    path = b"".join(b"%d %d 40 40 re\n" % (i * 7 % 550, i * 13 % 800) for i in range(squares))
    content = b"".join(b"%s0.%d g f*\n" % (path, k % 10) for k in range(repeat))
    data = zlib.compress(content, 6)
    kids = b" ".join(b"%d 0 R" % (4 + i) for i in range(pages))
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 3 0 R /Resources << >> >>"
    return assemble(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Count %d /Kids [%s] >>" % (pages, kids),
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream",
            *[page] * pages,
        ],
        1,
    )
