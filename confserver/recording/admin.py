"""The access log of recordings, read-only, for administrators (issue 10, item 6)."""
from django.contrib import admin

from .models import RecordingAccess


@admin.register(RecordingAccess)
class RecordingAccessAdmin(admin.ModelAdmin):
    list_display = ("at", "user", "action", "meeting", "segment", "client_address")
    list_filter = ("action", "at")
    search_fields = ("user__username", "meeting__title", "client_address")
    date_hierarchy = "at"
    list_select_related = ("user", "meeting", "segment")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
