"""The second step of signing in (issue 13, item 4): /login/otp/ asks the code of an enrolled account,
/login/otp/enrol/ enrols one (QR code and the secret for manual entry, a first code, backup codes shown once).
The password step (accounts/signin.py, and /admin/login/ here) does not sign in an account that is asked a code:
it only remembers it in the session for OTP_PENDING_S. Codes are throttled like passwords (accounts/throttle.py)."""

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME, login
from django.contrib.auth.views import LoginView
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from confserver.accounts import landing, throttle
from confserver.accounts.signin import TEMPLATE, AdminSignInForm
from confserver.audit import log as audit

from . import factor
from .steps import ENROL_URL, VERIFY_URL, PasswordThenCode

WRONG_CODE = (
    "Mã không đúng hoặc đã được dùng. Hãy nhập mã mới đang hiện trên ứng dụng xác thực "
    "(hoặc một mã dự phòng chưa dùng)."
)
WRONG_FIRST_CODE = "Mã không đúng. Hãy nhập mã 6 chữ số đang hiện trên ứng dụng xác thực sau khi quét mã QR."
EXPIRED = "Phiên đăng nhập đã hết hạn. Hãy nhập lại tên đăng nhập và mật khẩu."


class AdminSignInView(PasswordThenCode, LoginView):
    admin_site = True
    authentication_form = AdminSignInForm
    template_name = TEMPLATE


@never_cache
def admin_login(request):
    """/admin/login/: Django's AdminSite.login with the second step (same context, same form and page)."""
    if request.method == "GET" and admin.site.has_permission(request):
        return redirect(reverse("admin:index"))
    context = {
        **admin.site.each_context(request),
        "title": "Đăng nhập",
        "subtitle": None,
        "app_path": request.get_full_path(),
        "username": request.user.get_username(),
    }
    if REDIRECT_FIELD_NAME not in request.GET and REDIRECT_FIELD_NAME not in request.POST:
        context[REDIRECT_FIELD_NAME] = reverse("admin:index")
    request.current_app = admin.site.name
    return AdminSignInView.as_view(extra_context=context)(request)


def _finish(request, user, held, device, **details):
    """The factor passed: sign in (Django cycles the session key), mark the session, go where the role belongs."""
    login(request, user, backend=held["backend"])
    factor.mark_passed(request, device)
    if held.get("admin"):
        return held.get("next") or reverse("admin:index")
    return landing.landing_for(user, held.get("next") or "")


def _counted(request, user):
    """Reserve one attempt for this account's codes, or None when the throttle refuses it."""
    name, address = factor.throttle_name(user.get_username()), throttle.client_address(request)
    if not throttle.reserve(name, address):
        throttle.log.warning(
            "second factor refused, too many failures: username=%r address=%s", user.get_username()[:150], address
        )
        return None
    return name, address


def _note_failure(user, counted) -> None:
    """A wrong code: it stays counted (throttle.reserve counted it first); logged like a wrong password."""
    throttle.log.warning("second factor failed: username=%r address=%s", user.get_username()[:150], counted[1])


def _page(request, template, context, status=200):
    return render(request, template, {"title": "Xác thực hai lớp", **context}, status=status)


@csrf_protect
@never_cache
def verify(request):
    user, held = factor.pending_user(request)
    if user is None:
        return _page(request, "twofactor/expired.html", {"message": EXPIRED})
    device = factor.confirmed_device(user)
    if device is None:
        return redirect(ENROL_URL)
    context = {"who": user.get_username(), "left": factor.backup_codes_left(user)}
    if request.method != "POST":
        return _page(request, "twofactor/verify.html", context)
    code = request.POST.get("code", "")[:64]
    counted = _counted(request, user)
    if counted is None:
        return _page(request, "twofactor/verify.html", {**context, "error": throttle.refusal_message()}, 429)
    digits = "".join(ch for ch in code if ch.isalnum())
    if len(digits) == 6 and digits.isdigit():
        ok, how = factor.check_totp(device, code), "totp"
    else:
        ok, how = factor.use_backup_code(user, code), "backup"
    if not ok:
        _note_failure(user, counted)
        audit.record("auth.otp_failed", user=user, obj=user, request=request, kind=how)
        return _page(request, "twofactor/verify.html", {**context, "error": WRONG_CODE})
    throttle.note_success(*counted)
    if how == "backup":
        audit.record("auth.otp_backup_used", user=user, obj=user, request=request, left=factor.backup_codes_left(user))
    else:
        audit.record("auth.otp_passed", user=user, obj=user, request=request)
    return redirect(_finish(request, user, held, device))


@csrf_protect
@never_cache
def enrol(request):
    user, held = factor.pending_user(request)
    if user is None:
        return _page(request, "twofactor/expired.html", {"message": EXPIRED})
    if factor.confirmed_device(user) is not None:
        return redirect(VERIFY_URL)
    device = factor.start_enrolment(user)
    uri = factor.provisioning_uri(device)
    context = {
        "who": user.get_username(),
        "qr": factor.qr_data_uri(uri),
        "secret": factor.grouped(device.secret),
    }
    if request.method != "POST":
        return _page(request, "twofactor/enrol.html", context)
    counted = _counted(request, user)
    if counted is None:
        return _page(request, "twofactor/enrol.html", {**context, "error": throttle.refusal_message()}, 429)
    codes = factor.confirm(device, request.POST.get("code", "")[:64])
    if codes is None:
        _note_failure(user, counted)
        audit.record("auth.otp_failed", user=user, obj=user, request=request, kind="enrol")
        return _page(request, "twofactor/enrol.html", {**context, "error": WRONG_FIRST_CODE})
    throttle.note_success(*counted)
    audit.record("auth.otp_enrolled", user=user, obj=user, request=request, backup_codes=len(codes))
    device.refresh_from_db()
    then = _finish(request, user, held, device)
    return _page(request, "twofactor/backup_codes.html", {"codes": codes, "next": then})
