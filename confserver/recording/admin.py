"""Recordings in the admin: the access log (issue 10, item 6), legal holds and the one-file exports (item 5, 9)."""

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone

from confserver.security.admin_access import AdministratorsOnly, ReadOnly, is_administrator

from .models import LegalHold, RecordingAccess, RecordingExport, Segment, SegmentState


@admin.register(RecordingAccess)
class RecordingAccessAdmin(AdministratorsOnly, ReadOnly, admin.ModelAdmin):
    list_display = ("at", "user", "action", "meeting", "segment", "client_address")
    list_filter = ("action", "at")
    search_fields = ("user__username", "meeting__title", "client_address")
    date_hierarchy = "at"
    list_select_related = ("user", "meeting", "segment")


class LegalHoldForm(forms.ModelForm):
    clear = forms.BooleanField(
        label="Gỡ lệnh giữ này",
        required=False,
        help_text="Sau khi gỡ, bản ghi lại theo thời hạn lưu trữ (RECORDING_RETENTION_DAYS).",
    )

    class Meta:
        model = LegalHold
        fields = ("meeting", "reason", "clear_reason")

    def clean(self):
        data = super().clean()
        if data.get("clear") and not (data.get("clear_reason") or "").strip():
            self.add_error("clear_reason", "Cần ghi lý do gỡ lệnh giữ.")
        return data


@admin.register(LegalHold)
class LegalHoldAdmin(AdministratorsOnly, admin.ModelAdmin):
    """Legal holds (issue 10, item 5): set and cleared by administrators, with who, when and why; never deleted.
    While a meeting has an active hold, prune_recordings keeps its recording whatever its age."""

    form = LegalHoldForm
    list_display = ("meeting", "active_label", "reason", "set_by", "set_at", "cleared_by", "cleared_at")
    list_filter = (("cleared_at", admin.EmptyFieldListFilter), "set_at")
    search_fields = ("meeting__title", "reason", "set_by__username")
    raw_id_fields = ("meeting",)
    list_select_related = ("meeting", "set_by", "cleared_by")

    @admin.display(description="đang giữ", boolean=True)
    def active_label(self, obj):
        return obj.active

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("meeting", "reason")
        if obj.active:
            return ("meeting", "reason", "set_by", "set_at", "clear", "clear_reason")
        return ("meeting", "reason", "set_by", "set_at", "cleared_by", "cleared_at", "clear_reason")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        if obj.active:
            return ("meeting", "reason", "set_by", "set_at")
        return ("meeting", "reason", "set_by", "set_at", "cleared_by", "cleared_at", "clear_reason")

    def save_model(self, request, obj, form, change):
        from confserver.rooms.models import Meeting

        with transaction.atomic():
            # The lock prune_recordings takes: a hold set now is seen by a prune that has not reached this meeting.
            Meeting.objects.select_for_update().filter(pk=obj.meeting_id).first()
            if not change:
                obj.set_by = request.user
            elif form.cleaned_data.get("clear") and obj.cleared_at is None:
                obj.cleared_by, obj.cleared_at = request.user, timezone.now()
            elif obj.cleared_at is None:
                obj.clear_reason = ""  # a reason without ticking "clear" clears nothing
            obj.save()
        if not change and Segment.objects.filter(meeting_id=obj.meeting_id, state=SegmentState.PRUNED).exists():
            self.message_user(
                request,
                "Lưu ý: một phần bản ghi của cuộc họp này đã bị xoá theo thời hạn lưu trữ trước khi đặt lệnh giữ.",
                level=messages.WARNING,
            )

    def has_add_permission(self, request):
        return is_administrator(request) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return is_administrator(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # the record of a hold is evidence too


@admin.register(RecordingExport)
class RecordingExportAdmin(AdministratorsOnly, ReadOnly, admin.ModelAdmin):
    """The one-file recordings, read-only: their state, failures and build times (finalize_recording)."""

    list_display = (
        "meeting",
        "state",
        "progress",
        "bytes",
        "duration_ms",
        "segments",
        "finished_at",
        "mix_s",
        "remux_s",
    )
    list_filter = ("state",)
    search_fields = ("meeting__title",)
    list_select_related = ("meeting",)
