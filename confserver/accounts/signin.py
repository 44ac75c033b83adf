"""The sign-in forms of /login/ and /admin/login/, throttled (see throttle.py): a refused
attempt is answered 429 with the reason on the page, before any password is hashed; each attempt
is counted before its password is checked, so parallel guesses cannot pass the limit."""

from functools import wraps

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render

from confserver.twofactor.steps import PasswordThenCode

from . import landing, throttle

TEMPLATE = "accounts/signin.html"


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


class SignInView(PasswordThenCode, LoginView):
    """/login/, the product's own page: each role lands on its own page (landing.py; issue 10 item 7,
    issue 12 item 13): a `next` the role may use is honoured, a console page it may not use is not. An account
    asked a second factor goes on to /login/otp/ instead of being signed in (confserver/twofactor/)."""

    template_name = TEMPLATE
    authentication_form = SignInForm

    def get_success_url(self):
        return landing.landing_for(self.request.user, self.get_redirect_url())


@login_required
def choice(request):
    """/home/: an administrator chooses between the admin, the console and the review list; the other
    roles have one page each and go straight to it."""
    home = landing.home_for(request.user)
    if home != landing.CHOICE:
        return redirect(home)
    return render(
        request, "accounts/home.html", {"choices": landing.choices_for(request.user), "who": landing.who(request.user)}
    )
