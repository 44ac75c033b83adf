"""Files of the agenda app under MEDIA_ROOT/agenda/: PDFs stored once per content
(by SHA-256), rendered pages cached by (sha256, page, width), uploads spooled
to a temporary file first so a refused upload leaves nothing behind."""
import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

CHUNK = 1024 * 1024


def root() -> Path:
    return Path(settings.MEDIA_ROOT) / "agenda"


def pdf_path(sha256: str) -> Path:
    return root() / "pdf" / sha256[:2] / f"{sha256}.pdf"


def page_path(sha256: str, page: int, width: int) -> Path:
    return root() / "pages" / sha256[:2] / sha256 / f"{page}-{width}.png"


class TooLarge(Exception):
    pass


@dataclass
class Spooled:
    path: Path
    sha256: str
    size: int
    head: bytes

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def spool(chunks, limit: int) -> Spooled:
    """Write `chunks` (bytes) to a temporary file beside the store, hashing as it
    goes; TooLarge (and no file left) as soon as `limit` bytes are passed."""
    tmp_dir = root() / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    path = tmp_dir / f"{uuid.uuid4().hex}.part"
    digest, size, head = hashlib.sha256(), 0, b""
    try:
        with open(path, "wb") as f:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise TooLarge()
                if len(head) < 1024:
                    head += chunk[:1024 - len(head)]
                digest.update(chunk)
                f.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Spooled(path, digest.hexdigest(), size, head)


def place(spooled: Spooled) -> bool:
    """Move a spooled upload to its content address; True if this created the file
    (False: the same bytes were already stored, the spool is dropped)."""
    final = pdf_path(spooled.sha256)
    if final.exists():
        spooled.discard()
        return False
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(spooled.path, final)  # same filesystem: atomic
    return True


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
