"""The admin's record tables (confserver/security/admin_access.py): read, never added, edited or deleted, even by
a superuser; the sensitive ones (who did or watched what) opened by administrators only."""

import pytest

from confserver.accounts.models import Role

RECORDS = [
    "audit/auditevent",
    "rooms/timelineevent",
    "agenda/publication",
    "agenda/webhookdelivery",
    "agenda/readreceipt",
    "recording/recordingaccess",
    "recording/recordingexport",
]
ADMINISTRATORS_ONLY = ["audit/auditevent", "recording/recordingaccess", "recording/recordingexport"]


@pytest.fixture
def superuser(hue2025, make_user):
    user = make_user("quantri-thu", Role.ADMIN, unit=hue2025)
    user.is_superuser = user.is_staff = True
    user.save()
    return user


@pytest.mark.django_db
@pytest.mark.parametrize("model", RECORDS)
def test_record_tables_are_read_only_even_for_a_superuser(client, superuser, model):
    client.force_login(superuser)
    page = client.get(f"/admin/{model}/")
    assert page.status_code == 200
    assert client.get(f"/admin/{model}/add/").status_code == 403
    assert f'href="/admin/{model}/add/"' not in page.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("model", ADMINISTRATORS_ONLY)
def test_sensitive_records_only_for_administrators(client, hue2025, make_user, model):
    from django.contrib.auth.models import Permission

    host = make_user("chutri-thu", Role.HOST, unit=hue2025)
    host.is_staff = True
    host.save()
    app, name = model.split("/")
    host.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=f"view_{name}"))
    client.force_login(host)
    assert client.get(f"/admin/{model}/").status_code in (302, 403)
