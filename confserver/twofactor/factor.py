"""The second factor's rules (issue 13, item 4): who must pass it, TOTP codes (never accepted twice), one-time
backup codes, and the session's marks (a password passed and waiting for its code; the factor passed).

pyotp computes the codes; what is kept (the secret, the last step used, hashed backup codes) is our own model, so
the check-and-burn of a code is one conditional UPDATE, safe between workers."""

import hashlib
import secrets
import time
from base64 import b64encode

import pyotp
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from confserver.accounts.models import Role

from .models import BackupCode, TOTPDevice

STEP_S = 30
DRIFT_STEPS = 1  # a code of the previous or the next 30 s step is accepted too (phones' clocks drift)
BACKUP_CODES = 10
BACKUP_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
PENDING = "twofactor_pending"  # session key: the password passed, the code not yet
PASSED = "twofactor_passed"  # session key: the id of the device whose code this session passed


def required_roles() -> set[str]:
    roles = {r.strip() for r in settings.OTP_REQUIRED_ROLES if r.strip()}
    if settings.OTP_REQUIRED:
        roles |= {Role.HOST, Role.ADMIN}
    roles.discard(Role.TERMINAL)  # room terminals enter by their signed links, never by a password and a code
    return roles


def is_required(user) -> bool:
    """Whether `user` must pass the second factor (its role is listed; a superuser counts as an administrator)."""
    if not getattr(user, "is_authenticated", False) or getattr(user, "role", None) == Role.TERMINAL:
        return False
    roles = required_roles()
    if not roles:
        return False
    return user.role in roles or (Role.ADMIN in roles and (user.is_superuser or user.is_staff))


def confirmed_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed_at__isnull=False).first()


def asks_code(user) -> bool:
    """After the password: required for the role, or enrolled anyway."""
    return is_required(user) or confirmed_device(user) is not None


# --- TOTP -------------------------------------------------------------------------------------------------------


def start_enrolment(user) -> TOTPDevice:
    """The account's device being enrolled (a fresh secret unless one is waiting); a confirmed one stays."""
    device, _ = TOTPDevice.objects.get_or_create(user=user, defaults={"secret": pyotp.random_base32(32)})
    return device


def provisioning_uri(device: TOTPDevice) -> str:
    return pyotp.TOTP(device.secret, interval=STEP_S).provisioning_uri(
        name=device.user.get_username(), issuer_name=settings.OTP_ISSUER
    )


def qr_data_uri(text: str) -> str:
    """`text` as a QR code, an SVG data: URI for an <img> (the same generator as the room links' QR codes)."""
    from confserver.rooms.callback import qr_svg

    return "data:image/svg+xml;base64," + b64encode(qr_svg(text).encode()).decode()


def grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _clean(code: str) -> str:
    return "".join(ch for ch in (code or "").casefold() if ch.isalnum())


def check_totp(device: TOTPDevice, code: str, now: float | None = None) -> bool:
    """True once per code: the code matches a step within the drift, later than the last step accepted, and that
    step is burnt in the same UPDATE (two workers given the same code: one wins)."""
    code = _clean(code)
    if len(code) != 6 or not code.isdigit():
        return False
    now = time.time() if now is None else now
    totp = pyotp.TOTP(device.secret, interval=STEP_S)
    current = int(now // STEP_S)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            return TOTPDevice.objects.filter(pk=device.pk, last_step__lt=step).update(last_step=step) == 1
    return False


def confirm(device: TOTPDevice, code: str) -> list[str] | None:
    """Finish enrolment with a first code; the new backup codes (shown once), or None for a wrong code."""
    if not check_totp(device, code):
        return None
    with transaction.atomic():
        TOTPDevice.objects.filter(pk=device.pk).update(confirmed_at=timezone.now())
        return new_backup_codes(device.user)


# --- Backup codes -----------------------------------------------------------------------------------------------


def _hash(user, code: str) -> str:
    return hashlib.sha256(f"{user.pk}:{_clean(code)}".encode()).hexdigest()


def new_backup_codes(user) -> list[str]:
    """Replace the account's backup codes with BACKUP_CODES fresh ones (~50 bits each); only hashes are kept."""
    codes = ["".join(secrets.choice(BACKUP_ALPHABET) for _ in range(10)) for _ in range(BACKUP_CODES)]
    with transaction.atomic():
        BackupCode.objects.filter(user=user).delete()
        BackupCode.objects.bulk_create([BackupCode(user=user, code_hash=_hash(user, c)) for c in codes])
    return [f"{c[:5]}-{c[5:]}" for c in codes]


def use_backup_code(user, code: str) -> bool:
    """True once per backup code (burnt by the same conditional UPDATE that checks it is unused)."""
    if len(_clean(code)) != 10:
        return False
    return (
        BackupCode.objects.filter(user=user, code_hash=_hash(user, code), used_at__isnull=True).update(
            used_at=timezone.now()
        )
        == 1
    )


def backup_codes_left(user) -> int:
    return BackupCode.objects.filter(user=user, used_at__isnull=True).count()


def reset(user) -> bool:
    """An administrator's reset (a lost phone): the device and backup codes go; the account enrols again at its
    next sign-in, and sessions that passed the old device's code no longer count as passed."""
    with transaction.atomic():
        n, _ = TOTPDevice.objects.filter(user=user).delete()
        BackupCode.objects.filter(user=user).delete()
    return bool(n)


# --- The session's marks ----------------------------------------------------------------------------------------


def begin(request, user, next_url: str, admin: bool) -> None:
    """The password was right: remember whom for OTP_PENDING_S, without signing in."""
    request.session[PENDING] = {
        "uid": user.pk,
        "backend": user.backend,
        "next": next_url,
        "admin": admin,
        "at": time.time(),
    }


def pending(request) -> dict | None:
    held = request.session.get(PENDING)
    if not held or time.time() - held.get("at", 0) > settings.OTP_PENDING_S:
        return None
    return held


def pending_user(request):
    from django.contrib.auth import get_user_model

    held = pending(request)
    if held is None:
        return None, None
    user = get_user_model().objects.filter(pk=held["uid"], is_active=True).first()
    return user, held


def mark_passed(request, device: TOTPDevice) -> None:
    request.session.pop(PENDING, None)
    request.session[PASSED] = device.pk


def session_passed(user, session) -> bool:
    """Whether this session passed the code of the account's current (confirmed) device."""
    passed = session.get(PASSED) if session is not None else None
    return passed is not None and TOTPDevice.objects.filter(pk=passed, user=user, confirmed_at__isnull=False).exists()


def session_allowed(user, session) -> bool:
    """An authenticated session may act as `user`: the factor is not required, or this session passed it."""
    return not is_required(user) or session_passed(user, session)


def throttle_name(username: str) -> str:
    """The name codes are counted under in accounts/throttle.py: apart from passwords, so a right password does
    not wipe the count of wrong codes."""
    return f"{username}\n2fa"
