"""Import administrative units from a JSON Lines file (format: rooms/data/README.md).

All or nothing: the whole file is validated before anything is written, and
the writes run in one transaction. Re-importing the same file changes nothing.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .hierarchy import make_path
from .models import LEVEL_OF_TYPE, PATH_SEP, AdminUnit, DivisionType

BATCH = 2000


class UnitFileError(Exception):
    """A bad unit file; `line` is 1-based (0 when the problem is the file itself)."""

    def __init__(self, line: int, message: str):
        self.line = line
        self.message = message
        super().__init__(f"dòng {line}: {message}" if line else message)


class UnitLine(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=16, pattern=r"^[0-9A-Z]+$")
    name: str = Field(min_length=1, max_length=200)
    type: DivisionType
    parent: str | None = None


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    codes: list[str] = field(default_factory=list)


def parse_units(lines) -> list[tuple[int, UnitLine]]:
    """Parse and check every line; raise UnitFileError naming the first bad line."""
    seen: dict[str, UnitLine] = {}
    out = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise UnitFileError(number, f"không phải JSON hợp lệ ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise UnitFileError(number, "mỗi dòng phải là một đối tượng JSON")
        try:
            unit = UnitLine.model_validate(obj)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "dòng"
            raise UnitFileError(number, f"trường '{where}': {first['msg']}") from None
        if unit.code in seen:
            raise UnitFileError(number, f"mã '{unit.code}' bị trùng")
        seen[unit.code] = unit
        out.append((number, unit))
    if not out:
        raise UnitFileError(0, "tệp không có đơn vị nào")
    return out


def _plan(parsed: list[tuple[int, UnitLine]]):
    """Resolve parents and paths against the file and the database; no writes."""
    existing = {
        u.code: u
        for u in AdminUnit.objects.all().only("id", "code", "name", "division_type", "level", "parent_id", "path")
    }
    code_of_id = {u.id: u.code for u in existing.values()}
    paths: dict[str, str] = {}
    levels: dict[str, int] = {}
    for number, unit in parsed:
        level = int(LEVEL_OF_TYPE[unit.type])
        if unit.parent is None:
            if level != 0:
                raise UnitFileError(number, f"đơn vị '{unit.code}' cấp dưới trung ương phải có mã cha")
            parent_path, parent_level = None, -1
        elif unit.parent in paths:
            parent_path, parent_level = paths[unit.parent], levels[unit.parent]
        elif unit.parent in existing:
            parent_path, parent_level = existing[unit.parent].path, existing[unit.parent].level
        else:
            raise UnitFileError(number, f"mã cha '{unit.parent}' chưa có ở các dòng trước hoặc trong cơ sở dữ liệu")
        if level <= parent_level:
            raise UnitFileError(
                number, f"đơn vị '{unit.code}' ({unit.type.value}) không thể nằm dưới đơn vị cùng cấp hoặc cấp dưới"
            )
        paths[unit.code] = make_path(parent_path, unit.code)
        levels[unit.code] = level
    return existing, code_of_id, paths, levels


@transaction.atomic
def import_units(lines) -> ImportResult:
    parsed = parse_units(lines)
    existing, code_of_id, paths, levels = _plan(parsed)
    result = ImportResult()
    moved: list[tuple[str, str]] = []
    # Parents before children: create level by level so parent ids are known.
    ids = {code: u.id for code, u in existing.items()}
    for level in sorted(set(levels.values())):
        to_create, to_update = [], []
        for _, unit in parsed:
            if levels[unit.code] != level:
                continue
            parent_id = ids[unit.parent] if unit.parent else None
            fields = dict(
                name=unit.name, division_type=unit.type.value, level=level, parent_id=parent_id, path=paths[unit.code]
            )
            current = existing.get(unit.code)
            if current is None:
                to_create.append(AdminUnit(code=unit.code, **fields))
                result.created += 1
            elif any(getattr(current, k) != v for k, v in fields.items()):
                if current.path != fields["path"]:
                    moved.append((current.path, fields["path"]))
                for k, v in fields.items():
                    setattr(current, k, v)
                to_update.append(current)
                result.updated += 1
            else:
                result.unchanged += 1
            result.codes.append(unit.code)
        AdminUnit.objects.bulk_create(to_create, batch_size=BATCH)
        AdminUnit.objects.bulk_update(to_update, ["name", "division_type", "level", "parent", "path"], batch_size=BATCH)
        if to_create:
            ids.update(AdminUnit.objects.filter(code__in=[u.code for u in to_create]).values_list("code", "id"))
    if moved:
        _move_descendants_not_in_file(moved, set(paths))
    return result


def _move_descendants_not_in_file(moved, codes_in_file):
    """A unit that changed parent carries its descendants that the file did not list."""
    for old, new in moved:
        stale = [u for u in AdminUnit.objects.filter(path__startswith=old) if u.code not in codes_in_file]
        for u in stale:
            u.path = new + u.path[len(old) :]
        AdminUnit.objects.bulk_update(stale, ["path"], batch_size=BATCH)


def import_file(path: str | Path) -> ImportResult:
    try:
        with open(path, encoding="utf-8") as fh:
            return import_units(fh)
    except UnicodeDecodeError as exc:
        raise UnitFileError(0, f"tệp không phải UTF-8 ({exc.reason})") from None


def ensure_default_rooms() -> int:
    """Give every unit without a room one room named after it; returns how many were made."""
    from .models import Room

    missing = AdminUnit.objects.filter(rooms__isnull=True)
    rooms = [Room(unit=u, name=f"Phòng họp {u.name}") for u in missing]
    Room.objects.bulk_create(rooms, batch_size=BATCH)
    return len(rooms)


__all__ = ["UnitFileError", "import_units", "import_file", "ensure_default_rooms", "PATH_SEP"]
