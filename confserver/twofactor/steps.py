"""The password step's hand-over to the second factor, for the sign-in views of /login/ and /admin/login/."""

from django.shortcuts import redirect

from . import factor

VERIFY_URL = "/login/otp/"
ENROL_URL = "/login/otp/enrol/"


class PasswordThenCode:
    """For a LoginView: an account asked a code is not signed in by its password; it goes to the code's step."""

    admin_site = False

    def form_valid(self, form):
        user = form.get_user()
        if not factor.asks_code(user):
            return super().form_valid(form)
        factor.begin(self.request, user, self.get_redirect_url(), admin=self.admin_site)
        return redirect(VERIFY_URL if factor.confirmed_device(user) else ENROL_URL)
