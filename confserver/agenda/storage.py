"""Files of the agenda app under MEDIA_ROOT/agenda/: PDFs stored once per content
(by SHA-256), rendered pages cached by (sha256, page, width), uploads spooled
to a temporary file first so a refused upload leaves nothing behind."""

import errno
import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

CHUNK = 1024 * 1024
HEAD = 1024
FULL = (errno.ENOSPC, errno.EDQUOT)


def root() -> Path:
    return Path(settings.MEDIA_ROOT) / "agenda"


def pdf_path(sha256: str) -> Path:
    return root() / "pdf" / sha256[:2] / f"{sha256}.pdf"


def page_path(sha256: str, page: int, width: int) -> Path:
    return root() / "pages" / sha256[:2] / sha256 / f"{page}-{width}.png"


class TooLarge(Exception):
    pass


class StorageFull(Exception):
    """The disk (or quota) under MEDIA_ROOT is full; whatever was half written is removed."""


def is_full(exc: OSError) -> bool:
    return exc.errno in FULL


@dataclass
class Spooled:
    path: Path
    sha256: str
    size: int
    head: bytes

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


class SpoolWriter:
    """A temporary file beside the store, hashed as it is written; TooLarge past `limit` bytes,
    StorageFull on a full disk, and no file left behind either way."""

    def __init__(self, limit: int):
        tmp_dir = root() / "tmp"
        self.limit = limit
        self.path = tmp_dir / f"{uuid.uuid4().hex}.part"
        self.digest, self.size, self.head = hashlib.sha256(), 0, b""
        try:
            tmp_dir.mkdir(parents=True, exist_ok=True)
            self.file = open(self.path, "wb")
        except OSError as exc:
            self._fail(exc)

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            self.discard()
            raise TooLarge()
        if len(self.head) < HEAD:
            self.head += chunk[: HEAD - len(self.head)]
        self.digest.update(chunk)
        try:
            self.file.write(chunk)
        except OSError as exc:
            self._fail(exc)

    def finish(self) -> Spooled:
        try:
            self.file.close()  # flushes: a full disk may only show here
        except OSError as exc:
            self._fail(exc)
        return Spooled(self.path, self.digest.hexdigest(), self.size, self.head)

    def discard(self) -> None:
        f = getattr(self, "file", None)
        if f is not None and not f.closed:
            try:
                f.close()
            except OSError:
                pass
        self.path.unlink(missing_ok=True)

    def _fail(self, exc: OSError):
        self.discard()
        if is_full(exc):
            raise StorageFull() from exc
        raise exc


def spool(chunks, limit: int) -> Spooled:
    """Write `chunks` (bytes) to a SpoolWriter and finish it."""
    writer = SpoolWriter(limit)
    try:
        for chunk in chunks:
            writer.write(chunk)
        return writer.finish()
    except BaseException:
        writer.discard()
        raise


def place(spooled: Spooled) -> bool:
    """Move a spooled upload to its content address; True if this created the file
    (False: the same bytes were already stored, the spool is dropped)."""
    final = pdf_path(spooled.sha256)
    if final.exists():
        spooled.discard()
        return False
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(spooled.path, final)  # same filesystem: atomic
    except OSError as exc:
        if is_full(exc):
            raise StorageFull() from exc
        raise
    return True


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file; nothing is left behind if that fails."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
