"""Backups of one deployment (issue 13, item 6): the database and the stored files in one dated folder with a
manifest, and their restore. `manage.py backup DIR` / `manage.py restore FOLDER` are the thin commands.

A backup folder holds `database.dump` (pg_dump, custom format) or `database.sqlite3` (SQLite's online backup API),
`files/media/…` (MEDIA_ROOT: documents and their versions) and `files/recordings/…` (RECORDINGS_ROOT), and
`manifest.json`: every file with its size and SHA-256, the versions of the tools, the migrations applied; and
`manifest.sha256`, the manifest's own hash. Restore checks all of it before it touches anything."""

import hashlib
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import django
from django.conf import settings
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from confserver.errors import Conflict, DomainError

FORMAT = 1
MANIFEST, MANIFEST_HASH = "manifest.json", "manifest.sha256"
PG_DUMP, SQLITE_COPY = "database.dump", "database.sqlite3"
# What is not worth keeping: uploads in flight (agenda/tmp), rebuilt on demand.
SKIP_MEDIA = ("agenda/tmp/",)
CHUNK = 1 << 20


class BackupDamaged(DomainError):
    def __init__(self, detail: str):
        super().__init__("backup_damaged", f"Bản sao lưu bị hỏng hoặc không đầy đủ, không khôi phục: {detail}.")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _roots() -> dict[str, Path]:
    return {"media": Path(settings.MEDIA_ROOT), "recordings": Path(settings.RECORDINGS_ROOT)}


def _db() -> dict:
    return settings.DATABASES["default"]


def _vendor() -> str:
    return connection.vendor  # "postgresql" or "sqlite"


def _pg_env() -> dict:
    db = _db()
    env = dict(os.environ)
    for key, var in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER"), ("PASSWORD", "PGPASSWORD")):
        if db.get(key):
            env[var] = str(db[key])
    env["PGDATABASE"] = db["NAME"]
    return env


def _run(args: list[str], what: str) -> str:
    out = subprocess.run(args, env=_pg_env(), capture_output=True, text=True)
    if out.returncode:
        raise DomainError("backup_tool_failed", f"{what} không thành công: {out.stderr.strip()[-800:]}", status=500)
    return out.stdout


def _tool_version(tool: str) -> str:
    try:
        return subprocess.run([tool, "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def applied_migrations() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for app, name in sorted(MigrationRecorder(connection).applied_migrations()):
        out.setdefault(app, []).append(name)
    return out


def code_migrations() -> set[tuple[str, str]]:
    return set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)


@dataclass
class Made:
    folder: Path
    files: int = 0
    bytes: int = 0
    seconds: dict = field(default_factory=dict)


# --- Backup -----------------------------------------------------------------------------------------------------


def backup(dest: Path) -> Made:
    """Write a new dated folder under `dest`: the database first, then the files (a file written meanwhile may be
    there without its row, never a row without its file unless it was removed meanwhile)."""
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    folder = Path(dest) / f"confserver-{stamp}"
    n = 1
    while folder.exists():
        n += 1
        folder = Path(dest) / f"confserver-{stamp}-{n}"
    work = Path(tempfile.mkdtemp(prefix=".partial-", dir=dest))  # renamed into place when complete
    try:
        return _backup_into(work, folder)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)  # no half-made backup left to be mistaken for one
        raise


def _backup_into(work: Path, folder: Path) -> Made:
    made = Made(folder)
    t0 = time.monotonic()
    database = _dump_database(work)
    made.seconds["database"] = round(time.monotonic() - t0, 3)
    t1 = time.monotonic()
    entries = [_entry(work, database)]
    for name, root in _roots().items():
        for src in sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []:
            rel = src.relative_to(root).as_posix()
            if name == "media" and rel.startswith(SKIP_MEDIA):
                continue
            target = work / "files" / name / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
            entries.append(_entry(work, target.relative_to(work).as_posix()))
    made.seconds["files"] = round(time.monotonic() - t1, 3)
    manifest = {
        "format": FORMAT,
        "created_at": timezone.now().isoformat(),
        "database": {
            "vendor": _vendor(),
            "file": database,
            "name": str(_db()["NAME"]),
            "server_version": _server_version(),
            "tool": _tool_version("pg_dump") if _vendor() == "postgresql" else f"sqlite {sqlite3.sqlite_version}",
        },
        "versions": {"python": platform.python_version(), "django": django.get_version(), "commit": _commit()},
        "migrations": applied_migrations(),
        "roots": {name: str(root) for name, root in _roots().items()},
        "files": entries,
    }
    text = json.dumps(manifest, ensure_ascii=False, indent=1)
    (work / MANIFEST).write_text(text, encoding="utf-8")
    (work / MANIFEST_HASH).write_text(hashlib.sha256(text.encode()).hexdigest() + "  " + MANIFEST + "\n")
    os.replace(work, folder)
    made.files, made.bytes = len(entries), sum(e["size"] for e in entries)
    made.seconds["total"] = round(time.monotonic() - t0, 3)
    return made


def _entry(base: Path, rel: str) -> dict:
    path = base / rel
    return {"path": rel, "size": path.stat().st_size, "sha256": _sha256(path)}


def _dump_database(work: Path) -> str:
    if _vendor() == "postgresql":
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={work / PG_DUMP}"], "pg_dump")
        return PG_DUMP
    if _vendor() == "sqlite":
        src = sqlite3.connect(str(_db()["NAME"]))
        dst = sqlite3.connect(str(work / SQLITE_COPY))
        try:
            src.backup(dst)  # consistent while the server writes
        finally:
            dst.close()
            src.close()
        return SQLITE_COPY
    raise DomainError("backup_unsupported", f"Không hỗ trợ sao lưu cơ sở dữ liệu loại {_vendor()}.")


def _server_version() -> str:
    with connection.cursor() as c:
        c.execute("select version()" if _vendor() == "postgresql" else "select sqlite_version()")
        return c.fetchone()[0]


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(settings.BASE_DIR), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


# --- Check ------------------------------------------------------------------------------------------------------


def check(folder: Path) -> dict:
    """The manifest of an intact backup; BackupDamaged naming the first problem otherwise."""
    folder = Path(folder)
    try:
        text = (folder / MANIFEST).read_text(encoding="utf-8")
        recorded = (folder / MANIFEST_HASH).read_text().split()[0]
    except (OSError, UnicodeDecodeError, IndexError):
        raise BackupDamaged(f"thiếu {MANIFEST} hoặc {MANIFEST_HASH} trong {folder}") from None
    if hashlib.sha256(text.encode()).hexdigest() != recorded:
        raise BackupDamaged(f"{MANIFEST} đã bị thay đổi")
    try:
        manifest = json.loads(text)
    except ValueError:
        raise BackupDamaged(f"{MANIFEST} không đọc được") from None
    if manifest.get("format") != FORMAT:
        raise BackupDamaged(f"định dạng {manifest.get('format')!r} không được hỗ trợ")
    for e in manifest["files"]:
        path = folder / e["path"]
        if ".." in Path(e["path"]).parts or Path(e["path"]).is_absolute():
            raise BackupDamaged(f"đường dẫn không hợp lệ {e['path']!r}")
        if not path.is_file():
            raise BackupDamaged(f"thiếu tệp {e['path']}")
        if path.stat().st_size != e["size"]:
            raise BackupDamaged(f"tệp {e['path']} có kích thước {path.stat().st_size}, không phải {e['size']} byte")
        if _sha256(path) != e["sha256"]:
            raise BackupDamaged(f"tệp {e['path']} sai mã băm SHA-256")
    return manifest


# --- Restore ----------------------------------------------------------------------------------------------------


def database_is_empty() -> bool:
    return not connection.introspection.table_names()


def restore(folder: Path, force: bool = False) -> Made:
    """Check the backup, then restore its database into this deployment's (empty unless `force`) and its files
    into MEDIA_ROOT and RECORDINGS_ROOT. Nothing is changed when a check fails."""
    folder = Path(folder)
    made = Made(folder)
    t0 = time.monotonic()
    manifest = check(folder)
    made.seconds["check"] = round(time.monotonic() - t0, 3)
    db = manifest["database"]
    if db["vendor"] != _vendor():
        raise Conflict(
            "restore_wrong_database",
            f"Bản sao lưu là cơ sở dữ liệu {db['vendor']}, máy chủ này dùng "
            f"{_vendor()}: hãy đặt DATABASE_URL cho đúng loại.",
        )
    unknown = {(app, name) for app, names in manifest["migrations"].items() for name in names} - code_migrations()
    if unknown:
        sample = ", ".join(f"{a}.{n}" for a, n in sorted(unknown)[:5])
        raise Conflict(
            "backup_newer_than_code",
            f"Bản sao lưu có cấu trúc dữ liệu mới hơn phiên bản phần mềm này "
            f"({sample}): hãy cài đúng phiên bản rồi khôi phục.",
        )
    if not database_is_empty() and not force:
        raise Conflict(
            "restore_not_empty",
            "Cơ sở dữ liệu đích đã có dữ liệu; khôi phục chỉ vào cơ sở dữ liệu trống "
            "(hoặc thêm --force để xoá dữ liệu hiện có và thay bằng bản sao lưu).",
        )
    t1 = time.monotonic()
    _restore_database(folder / db["file"], force)
    made.seconds["database"] = round(time.monotonic() - t1, 3)
    t2 = time.monotonic()
    roots = _roots()
    for e in manifest["files"]:
        parts = Path(e["path"]).parts
        if parts[0] != "files":
            continue
        target = roots[parts[1]].joinpath(*parts[2:])
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.restoring")
        shutil.copy2(folder / e["path"], partial)
        os.replace(partial, target)
        made.files += 1
        made.bytes += e["size"]
    made.seconds["files"] = round(time.monotonic() - t2, 3)
    made.seconds["total"] = round(time.monotonic() - t0, 3)
    return made


def _restore_database(dump: Path, force: bool) -> None:
    if _vendor() == "postgresql":
        connection.close()
        if force:
            _run(
                ["psql", "-v", "ON_ERROR_STOP=1", "-q", "-c", "DROP SCHEMA public CASCADE; CREATE SCHEMA public;"],
                "Xoá dữ liệu cũ (--force)",
            )
        _run(
            [
                "pg_restore",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={_db()['NAME']}",
                str(dump),
            ],
            "pg_restore",
        )
        return
    target = Path(_db()["NAME"])
    connection.close()
    src = sqlite3.connect(str(dump))
    dst = sqlite3.connect(str(target))
    try:
        src.backup(dst)  # replaces the whole database's content
    finally:
        dst.close()
        src.close()


def missing_migrations() -> list[str]:
    """Migrations of the code the restored database lacks (a backup from an older version: run migrate)."""
    applied = {(a, n) for a, names in applied_migrations().items() for n in names}
    return sorted(f"{a}.{n}" for a, n in code_migrations() - applied)
