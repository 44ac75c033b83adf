from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import User


@admin.register(User)
class ConfUserAdmin(UserAdmin):
    list_display = ("username", "role", "unit", "room", "is_active", "is_staff")
    list_filter = ("role", "is_active", "is_staff")
    raw_id_fields = ("unit", "room")
    fieldsets = UserAdmin.fieldsets + (("Đơn vị và vai trò", {"fields": ("role", "unit", "room")}),)
    add_fieldsets = UserAdmin.add_fieldsets + (("Đơn vị và vai trò", {"fields": ("role", "unit", "room")}),)
