from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import User
from .signin import TEMPLATE, AdminSignInForm


@admin.register(User)
class ConfUserAdmin(UserAdmin):
    list_display = ("username", "role", "unit", "room", "is_active", "is_staff")
    list_filter = ("role", "is_active", "is_staff")
    raw_id_fields = ("unit", "room")
    fieldsets = UserAdmin.fieldsets + (("Đơn vị và vai trò", {"fields": ("role", "unit", "room")}),)
    add_fieldsets = UserAdmin.add_fieldsets + (("Đơn vị và vai trò", {"fields": ("role", "unit", "room")}),)


# /admin/login/ counts and throttles failed passwords like /login/ (issue 9, finding 10), on the product's
# own sign-in page; the admin's header and titles are the product's, in Vietnamese (issue 12, item 13).
admin.site.login_form = AdminSignInForm
admin.site.login_template = TEMPLATE
admin.site.site_header = "Quản trị hệ thống hội nghị trực tuyến"
admin.site.site_title = "Quản trị hội nghị trực tuyến"
admin.site.index_title = "Quản trị hệ thống"
admin.site.site_url = "/home/"  # "Xem trang web": the signed-in account's own page
