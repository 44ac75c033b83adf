"""Importing a meeting's delegates from a CSV or XLSX list: every line is checked first and every bad line
is named (Vietnamese); nothing is stored unless all lines are good.

The first row names the columns, in Vietnamese or English, accents and case ignored: "Họ và tên" (name),
"Chức vụ" (position), "Đơn vị" (unit), "Điện thoại" (phone), "Email" / "Thư điện tử", "Điểm cầu" (room: the
invited room's number, its name, or its unit's code; empty: in the hall).
"""

import csv
import io
import itertools
import zipfile

from django.db import IntegrityError, transaction

from confserver.agenda.fold import fold
from confserver.errors import DomainError
from confserver.rooms import policy
from confserver.rooms.models import Meeting, Participation

from . import roster
from .models import Delegate, Seat

MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5000
MAX_COLUMNS = 30
# An XLSX is a zip: its parts are read only if their declared sizes (which zipfile never reads past) stay small, so
# a zip bomb (a few kB inflating to GB) is refused before openpyxl opens it. A real list of 5000 delegates is ~3 MB;
# 8 MB of shared strings (openpyxl parses them whole) took 3-4 s at load 10 (14 MB: 6.4 s).
MAX_UNZIPPED = 8 * 1024 * 1024
MAX_PARTS = 200
MAX_ERRORS_SHOWN = 20

COLUMNS = {
    "name": ("ho va ten", "ho ten", "name", "ten dai bieu", "dai bieu"),
    "position": ("chuc vu", "position"),
    "unit": ("don vi", "don vi cong tac", "unit", "co quan"),
    "phone": ("dien thoai", "so dien thoai", "sdt", "phone"),
    "email": ("email", "e-mail", "thu dien tu"),
    "room": ("diem cau", "phong", "phong hop", "room"),
}


def bad_file(message: str) -> DomainError:
    return DomainError("delegate_import_invalid", message, status=422)


def _rows(filename: str, data: bytes) -> list[list[str]]:
    if len(data) > MAX_BYTES:
        raise bad_file("Tệp danh sách lớn quá 2 MB.")
    if filename.lower().endswith(".xlsx") or data[:4] == b"PK\x03\x04":
        _check_zip(data)
        try:
            import openpyxl

            wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            ws = wb.worksheets[0]
            rows = [
                ["" if c is None else str(c).strip() for c in r]
                for r in ws.iter_rows(values_only=True, max_row=MAX_ROWS + 2, max_col=MAX_COLUMNS)
            ]
            wb.close()
        except Exception:
            raise bad_file("Không đọc được tệp Excel (.xlsx) này.") from None
        return _bounded(rows)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise bad_file("Tệp CSV phải mã hóa UTF-8.") from None
    if "\x00" in text:
        raise bad_file("Tệp CSV chứa ký tự NUL, không hợp lệ.")
    sample = text[:4096]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        # at most MAX_ROWS + 2 lines are read (_bounded refuses more): 2 MB of bare newlines is not 2 million lists
        rows = [[c.strip() for c in r[:MAX_COLUMNS]] for r in itertools.islice(reader, MAX_ROWS + 2)]
    except csv.Error:  # a field over csv's limit (128 kB), a NUL...
        raise bad_file(f"Tệp CSV không đúng định dạng (dòng {reader.line_num}).") from None
    return _bounded(rows)


def _bounded(rows: list[list[str]]) -> list[list[str]]:
    """The lines read stop at MAX_ROWS + 2: that many means the list is too long (never cut silently, blank lines
    counted: the header and MAX_ROWS lines fit)."""
    if len(rows) > MAX_ROWS + 1:
        raise bad_file(f"Danh sách có hơn {MAX_ROWS} dòng.")
    return rows


def _check_zip(data: bytes) -> None:
    """A bounded XLSX: a readable zip of at most MAX_PARTS parts, MAX_UNZIPPED bytes once inflated."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            parts = z.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise bad_file("Không đọc được tệp Excel (.xlsx) này.") from None
    if len(parts) > MAX_PARTS or sum(p.file_size for p in parts) > MAX_UNZIPPED:
        raise bad_file(
            f"Tệp Excel (.xlsx) khi giải nén lớn quá {MAX_UNZIPPED // (1024 * 1024)} MB; hãy lưu danh "
            "sách thành tệp nhỏ hơn hoặc CSV."
        )


def _header(row: list[str]) -> dict[str, int]:
    where = {}
    for i, cell in enumerate(row):
        key = fold(cell).strip().rstrip(":")
        for field, names in COLUMNS.items():
            if key in names and field not in where:
                where[field] = i
    if "name" not in where:
        raise bad_file(
            "Dòng 1 phải là dòng tiêu đề có cột “Họ và tên” (và tùy chọn: Chức vụ, Đơn vị, Điện thoại, "
            "Email, Điểm cầu)."
        )
    return where


def _room_index(meeting: Meeting) -> dict[str, int]:
    index: dict[str, int] = {}
    for p in Participation.objects.filter(meeting=meeting).select_related("room__unit"):
        for key in (str(p.room_id), fold(p.room.name), fold(p.room.unit.code), fold(p.room.unit.name)):
            index.setdefault(key, p.room_id)
    return index


# A delegate's phone and e-mail are unique in a meeting (models.Delegate's constraints): what the import says of each.
UNIQUE_FIELDS = {"phone": "số điện thoại", "email": "thư điện tử"}


class _Unique:
    """One unique field's values: those of the meeting's delegates, and the list's lines seen so far."""

    def __init__(self, meeting: Meeting, field: str, label: str):
        self.field, self.label = field, label
        self.existing = set(
            Delegate.objects.filter(meeting=meeting).exclude(**{field: ""}).values_list(field, flat=True)
        )
        self.seen: dict[str, int] = {}

    def clash(self, fields: dict, number: int) -> str | None:
        """The line's error when its value is taken already, else None."""
        value = fields[self.field]
        if not value:
            return None
        if value in self.existing:
            return f"Dòng {number}: {self.label} {value} đã có đại biểu khác trong cuộc họp."
        if value in self.seen:
            return f"Dòng {number}: {self.label} {value} trùng với dòng {self.seen[value]}."
        return None

    def take(self, fields: dict, number: int) -> None:
        if fields[self.field]:
            self.seen[fields[self.field]] = number


def parse(meeting: Meeting, filename: str, data: bytes) -> list[dict]:
    """Checked fields of every line; DomainError delegate_import_invalid naming the bad lines otherwise."""
    rows = _rows(filename, data)
    while rows and not any(rows[0]):
        rows.pop(0)
    if not rows:
        raise bad_file("Tệp danh sách trống.")
    where = _header(rows[0])
    rooms = _room_index(meeting)
    invited = {rid: None for rid in rooms.values()}
    unique = {field: _Unique(meeting, field, label) for field, label in UNIQUE_FIELDS.items()}
    errors, out = [], []
    if len(rows) - 1 > MAX_ROWS:
        raise bad_file(f"Danh sách có hơn {MAX_ROWS} dòng.")
    for number, row in enumerate(rows[1:], start=2):
        if not any(row):
            continue
        cell = {f: (row[i] if i < len(row) else "") for f, i in where.items()}
        data_row: dict = {k: cell.get(k, "") for k in ("name", "position", "unit", "phone", "email")}
        room_text = cell.get("room", "")
        if room_text:
            room_id = rooms.get(fold(room_text).strip())
            if room_id is None:
                errors.append(f"Dòng {number}: không có điểm cầu “{room_text}” trong các phòng được mời.")
                continue
            data_row.update(seat=Seat.ROOM, room_id=room_id)
        else:
            data_row.update(seat=Seat.HALL, room_id=None)
        try:
            fields = roster.clean(meeting, data_row, rooms=invited)
        except DomainError as exc:
            errors.append(f"Dòng {number}: {exc.message}")
            continue
        clash = next((e for e in (u.clash(fields, number) for u in unique.values()) if e), None)
        if clash:
            errors.append(clash)
            continue
        for u in unique.values():
            u.take(fields, number)
        out.append(fields)
    if errors:
        more = len(errors) - MAX_ERRORS_SHOWN
        shown = errors[:MAX_ERRORS_SHOWN] + ([f"… và {more} lỗi khác."] if more > 0 else [])
        raise bad_file("Danh sách có lỗi, chưa lưu đại biểu nào. " + " ".join(shown))
    if not out:
        raise bad_file("Danh sách không có đại biểu nào.")
    return out


def import_file(user, meeting: Meeting, filename: str, data: bytes) -> list[Delegate]:
    """All of the list's delegates, or none (DomainError naming the bad lines)."""
    policy.check_chair(user, meeting)
    rows = parse(meeting, filename, data)
    try:
        with transaction.atomic():
            return Delegate.objects.bulk_create([Delegate(meeting=meeting, **r) for r in rows])
    except IntegrityError:  # a delegate added meanwhile with the same phone or e-mail
        raise bad_file(
            "Danh sách trùng số điện thoại hoặc thư điện tử với đại biểu vừa được thêm; hãy thử lại."
        ) from None
