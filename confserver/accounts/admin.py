from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import User
from .signin import AdminSignInForm


@admin.register(User)
class ConfUserAdmin(UserAdmin):
    list_display = ("username", "role", "unit", "room", "is_active", "is_staff")
    list_filter = ("role", "is_active", "is_staff")
    raw_id_fields = ("unit", "room")
    fieldsets = UserAdmin.fieldsets + (("Đơn vị và vai trò", {"fields": ("role", "unit", "room")}),)
    add_fieldsets = UserAdmin.add_fieldsets + (("Đơn vị và vai trò", {"fields": ("role", "unit", "room")}),)


# /admin/login/ counts and throttles failed passwords like /login/ (issue 9, finding 10).
admin.site.login_form = AdminSignInForm
