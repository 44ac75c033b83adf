"""Administrators see who has enrolled a second factor and reset it (a lost phone): the account enrols again at
its next sign-in. Each reset is in the audit log."""

from django.contrib import admin, messages

from confserver.audit import log as audit
from confserver.security.admin_access import AdministratorsOnly

from . import factor
from .models import TOTPDevice


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(AdministratorsOnly, admin.ModelAdmin):
    list_display = ("user", "confirmed_at", "created_at", "backup_left")
    search_fields = ("user__username",)
    fields = ("user", "created_at", "confirmed_at")
    readonly_fields = fields
    actions = ["reset_second_factor"]

    @admin.display(description="mã dự phòng còn lại")
    def backup_left(self, obj):
        return factor.backup_codes_left(obj.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # only by the action below, which records who reset whom

    @admin.action(description="Đặt lại xác thực hai lớp (tài khoản phải đăng ký lại khi đăng nhập)")
    def reset_second_factor(self, request, queryset):
        from confserver.security.admin_access import is_administrator

        if not is_administrator(request):
            self.message_user(request, "Chỉ quản trị hệ thống được đặt lại xác thực hai lớp.", messages.ERROR)
            return
        names = []
        for device in queryset.select_related("user"):
            if factor.reset(device.user):
                audit.record("auth.otp_reset", obj=device.user, request=request, account=device.user.get_username())
                names.append(device.user.get_username())
        self.message_user(request, f"Đã đặt lại xác thực hai lớp cho {len(names)} tài khoản: {', '.join(names)}.")
