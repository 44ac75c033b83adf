from django.contrib import admin, messages
from django.db.models import Q
from django.http import HttpResponseRedirect

from confserver.security.admin_access import AdministratorsOnly, ReadOnly

from .models import Delegate, Note, QuorumRule, Receipt


@admin.register(Delegate)
class DelegateAdmin(admin.ModelAdmin):
    list_display = ("name", "position", "unit", "meeting", "seat", "room", "checked_in_at", "checked_in_by")
    list_filter = ("seat", "checked_in_by")
    search_fields = ("name", "phone", "email", "unit")
    raw_id_fields = ("meeting", "room", "user")
    readonly_fields = ("checked_in_at", "checked_in_by", "created_at")
    actions = ["revoke_links"]

    @admin.action(description="Thu hồi liên kết riêng của các đại biểu đã chọn")
    def revoke_links(self, request, queryset):
        from . import tokens

        for d in queryset:
            tokens.revoke(d)
        self.message_user(request, f"Đã thu hồi liên kết của {queryset.count()} đại biểu.")

    # A delegate who voted is never deleted (votes.Ballot.delegate is PROTECT), nor one checked in (the attendance
    # record; the chair's list refuses it too, delegate_checked_in): say why, in Vietnamese, before Django's generic
    # "protected objects" page.
    NO_DELETE = (
        "Không xóa được đại biểu “{}”: đại biểu đã điểm danh có mặt hoặc đã bỏ phiếu biểu quyết; điểm danh "
        "và phiếu đã bỏ phải được giữ nguyên."
    )

    @staticmethod
    def _kept(queryset):
        return queryset.filter(Q(ballots__isnull=False) | Q(checked_in_at__isnull=False)).distinct()

    def delete_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, object_id)
        if obj is not None and self._kept(Delegate.objects.filter(pk=obj.pk)).exists():
            self.message_user(request, self.NO_DELETE.format(obj.name), messages.ERROR)
            return HttpResponseRedirect(request.path.rsplit("/delete/", 1)[0] + "/change/")
        return super().delete_view(request, object_id, extra_context)

    def delete_queryset(self, request, queryset):
        kept = [d.name for d in self._kept(queryset)]
        if kept:
            self.message_user(request, self.NO_DELETE.format(", ".join(kept)), messages.ERROR)
            return
        super().delete_queryset(request, queryset)


@admin.register(QuorumRule)
class QuorumRuleAdmin(admin.ModelAdmin):
    list_display = ("meeting", "numerator", "denominator")
    raw_id_fields = ("meeting",)


@admin.register(Receipt)
class ReceiptAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("delegate", "version", "first_opened_at", "last_opened_at", "count")
    raw_id_fields = ("delegate", "version")


@admin.register(Note)
class NoteAdmin(AdministratorsOnly, ReadOnly, admin.ModelAdmin):
    """Private notes are their author's: listed (who, which page, when) for administrators, text not shown."""

    list_display = ("delegate", "version", "page", "updated_at")
    fields = ("delegate", "version", "page", "updated_at")
    raw_id_fields = ("delegate", "version")
