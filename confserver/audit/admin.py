"""The audit log in the admin: administrators only, read-only, in Vietnamese, exportable as CSV."""

from django.contrib import admin

from confserver.security.admin_access import AdministratorsOnly, ReadOnly

from . import export
from .labels import action_label, role_label
from .models import AuditEvent


class ActionFilter(admin.SimpleListFilter):
    title = "hành động"
    parameter_name = "action"

    def lookups(self, request, model_admin):
        codes = AuditEvent.objects.order_by().values_list("action", flat=True).distinct()
        return sorted(((c, action_label(c)) for c in codes), key=lambda p: p[1])

    def queryset(self, request, queryset):
        return queryset.filter(action=self.value()) if self.value() else queryset


class RoleFilter(admin.SimpleListFilter):
    title = "vai trò"
    parameter_name = "role"

    def lookups(self, request, model_admin):
        codes = AuditEvent.objects.order_by().exclude(role="").values_list("role", flat=True).distinct()
        return sorted(((c, role_label(c)) for c in codes), key=lambda p: p[1])

    def queryset(self, request, queryset):
        return queryset.filter(role=self.value()) if self.value() else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(AdministratorsOnly, ReadOnly, admin.ModelAdmin):
    list_display = ("at", "username", "role_name", "action_name", "object_repr", "meeting_id", "ip")
    list_filter = (ActionFilter, RoleFilter, "at")
    search_fields = ("username", "action", "object_repr", "ip")
    date_hierarchy = "at"
    actions = ["export_csv"]
    fields = (
        "at",
        "user_id",
        "username",
        "role_name",
        "action_name",
        "object_type",
        "object_id",
        "object_repr",
        "meeting_id",
        "ip",
        "user_agent",
        "data",
    )
    readonly_fields = fields

    @admin.display(description="hành động", ordering="action")
    def action_name(self, obj):
        return action_label(obj.action)

    @admin.display(description="vai trò", ordering="role")
    def role_name(self, obj):
        return role_label(obj.role)

    @admin.action(description="Xuất các sự kiện đã chọn ra tệp CSV")
    def export_csv(self, request, queryset):
        return export.csv_response(queryset.order_by("at", "id"), "nhat-ky-kiem-toan.csv")
