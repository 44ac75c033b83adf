"""Who may do what in the admin, beyond Django's model permissions: mixins for a ModelAdmin."""


def is_administrator(request) -> bool:
    from confserver.accounts.models import Role

    user = request.user
    return user.is_active and (user.is_superuser or getattr(user, "role", None) == Role.ADMIN)


class AdministratorsOnly:
    """Only administrators (role admin, or superusers) open it, whatever model permissions a staff account was
    given: who watched which meeting, or did what, is itself sensitive (issue 10, item 6; issue 13, item 3)."""

    def has_module_permission(self, request):
        return is_administrator(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return is_administrator(request) and super().has_view_permission(request, obj)


class ReadOnly:
    """Rows the product writes as a record of what happened: read in the admin, never added, edited or deleted
    there, whatever permissions an account holds."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
