from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path, re_path
from django.views.generic import RedirectView

from confserver.accounts.signin import SignInView, choice, refusals_as_429
from confserver.api import api
from confserver.audit.export import export_view as audit_export
from confserver.staticfiles import serve
from confserver.twofactor import views as twofactor_views

urlpatterns = [
    path("admin/login/", refusals_as_429(twofactor_views.admin_login)),
    path("admin/", admin.site.urls),
    path("api/audit/export", audit_export, name="audit-export"),
    path("api/", api.urls),
    path("login/", refusals_as_429(SignInView.as_view()), name="login"),
    path("login/otp/", twofactor_views.verify, name="login-otp"),
    path("login/otp/enrol/", twofactor_views.enrol, name="login-otp-enrol"),
    path("home/", choice, name="home"),
    # The browser pages are plain files; behind a production proxy, serve web/ from it.
    re_path(r"^web/(?P<path>.*)$", serve, {"document_root": settings.BASE_DIR / "web"}),
    path("logout/", auth_views.LogoutView.as_view(next_page="/login/"), name="logout"),
    path("", RedirectView.as_view(url="/web/index.html", permanent=False)),
]
