"""The sign-in forms of /login/ and /admin/login/, throttled (see throttle.py): a refused
attempt is answered 429 with the reason on the page, before any password is hashed; each attempt
is counted before its password is checked, so parallel guesses cannot pass the limit."""
from functools import wraps

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.exceptions import ValidationError

from . import throttle
from .models import Role

REVIEW_PAGE = "/web/review.html"
CONSOLE_PAGES = ("/web/host.html", "/web/index.html", "/")


class ThrottledMixin:
    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or not password:
            return super().clean()
        address = throttle.client_address(self.request)
        if not throttle.reserve(username, address):
            throttle.log.warning("sign-in refused, too many failures: username=%r address=%s", username[:150], address)
            self._refuse(throttle.refusal_message(), "throttled")
        with throttle.hashing_slot() as got:
            if not got:
                throttle.release(username, address)
                self._refuse(throttle.BUSY_MESSAGE, "busy")
            try:
                cleaned = super().clean()
            except ValidationError:
                if self.user_cache is None:  # a wrong password, not a right one for a refused account
                    throttle.note_failure(username, address)
                else:
                    throttle.release(username, address)
                raise
        throttle.note_success(username, address)
        return cleaned

    def _refuse(self, message: str, code: str):
        if self.request is not None:
            self.request.signin_refused = True
        raise ValidationError(message, code=code)


class SignInForm(ThrottledMixin, AuthenticationForm):
    pass


class AdminSignInForm(ThrottledMixin, AdminAuthenticationForm):
    pass


def refusals_as_429(view):
    """The page the view renders, with status 429 when the form refused the attempt."""
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if getattr(request, "signin_refused", False):
            response.status_code = 429
        return response
    return wrapped


class SignInView(LoginView):
    """/login/: a reviewer signing in from the landing page or the host console lands on the review
    page (issue 10, item 7), which is what their account is for; other roles go where `next` says."""

    def get_success_url(self):
        url = super().get_success_url()
        if getattr(self.request.user, "role", None) == Role.REVIEWER and url.split("?")[0] in CONSOLE_PAGES + (self.get_default_redirect_url(),):
            return REVIEW_PAGE
        return url
