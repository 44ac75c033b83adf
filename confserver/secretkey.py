"""Where SECRET_KEY comes from, and which keys are not secret (issue 9, finding 2).

Imported by settings.py before Django is set up: nothing here reads settings.
"""

import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

MIN_LENGTH = 50
# Keys published in this repository's history or in well-known examples: anyone can sign with them.
KNOWN_PUBLIC = frozenset(
    {
        "dev-insecure-change-me-" + "0" * 32,  # settings.py's fallback until issue 9
        "change-me",
        "changeme",
        "secret",
        "django-insecure-change-me",
    }
)


def problem(key: str) -> str | None:
    """Why `key` must not sign anything (Vietnamese), or None for a usable key."""
    if not key:
        return "SECRET_KEY trống."
    if key in KNOWN_PUBLIC or key.startswith("django-insecure-"):
        return "SECRET_KEY là một khóa công khai (ai cũng có thể dùng nó để giả mạo mã phòng)."
    if len(key) < MIN_LENGTH or len(set(key)) < 5:
        return f"SECRET_KEY quá ngắn hoặc quá đơn điệu (cần ít nhất {MIN_LENGTH} ký tự ngẫu nhiên)."
    return None


def embedded_key(var_dir: Path) -> str:
    """The embedded default's key: made once at random into var_dir/secret_key (mode 0600), then reused.
    Written to a temporary file and linked into place, so processes starting together agree on one key."""
    path = Path(var_dir) / "secret_key"
    if not path.exists():
        tmp = path.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(64) + "\n")
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            tmp.unlink(missing_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    key = path.read_text().strip()
    if problem(key):
        raise ImproperlyConfigured(f"{path}: {problem(key)} Xóa tệp này để tạo khóa mới.")
    return key
