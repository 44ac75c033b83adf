from django.contrib import admin
from django.utils import timezone

from confserver.security.admin_access import ReadOnly

from .models import AdminUnit, Meeting, Participation, Room, RoomToken, TimelineEvent


@admin.register(AdminUnit)
class AdminUnitAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "division_type", "level", "parent")
    list_filter = ("level", "division_type")
    search_fields = ("code", "name")
    raw_id_fields = ("parent",)
    readonly_fields = ("path",)


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("name", "unit", "is_active")
    list_filter = ("is_active", "unit__level")
    search_fields = ("name", "unit__name", "unit__code")
    raw_id_fields = ("unit",)


class ParticipationInline(admin.TabularInline):
    model = Participation
    extra = 0
    raw_id_fields = ("room",)
    readonly_fields = ("invited_at", "confirmed_at", "joined_at", "roll_call_at")


@admin.register(Meeting)
class MeetingAdmin(admin.ModelAdmin):
    list_display = ("title", "host_unit", "scheduled_start", "state")
    list_filter = ("state",)
    search_fields = ("title",)
    raw_id_fields = ("host_unit", "created_by")
    # The state moves only through the API and the socket: they enforce scheduled → test run → live →
    # ended, record it in the timeline and tell every connected room. An edit here would do none of that.
    readonly_fields = ("state", "started_at", "ended_at")
    inlines = [ParticipationInline]


@admin.register(TimelineEvent)
class TimelineEventAdmin(ReadOnly, admin.ModelAdmin):
    """What happened in each meeting, read-only: the record recordings and minutes are cut from."""

    list_display = ("at", "kind", "meeting", "room", "actor")
    list_filter = ("kind",)
    search_fields = ("meeting__title", "room__name")
    list_select_related = ("meeting", "room", "actor")


@admin.register(RoomToken)
class RoomTokenAdmin(admin.ModelAdmin):
    """Links are issued by the console (GET room-tokens) and only revoked here."""

    list_display = ("room", "meeting", "issued_at", "expires_at", "revoked_at", "issued_by")
    list_filter = ("revoked_at",)
    search_fields = ("room__name", "meeting__title", "jti")
    raw_id_fields = ("terminal", "room", "meeting", "issued_by")
    readonly_fields = ("jti", "terminal", "room", "meeting", "issued_at", "expires_at", "revoked_at", "issued_by")
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Thu hồi các liên kết đã chọn")
    def revoke(self, request, queryset):
        """Revoke, and cut the rooms' live connections as the console's revoke does."""
        from confserver.signaling.consumers import tell_sync
        from confserver.signaling.revoked import cut_rooms

        live = list(queryset.filter(revoked_at=None).values_list("meeting_id", "room_id").distinct())
        n = queryset.filter(revoked_at=None).update(revoked_at=timezone.now())
        for meeting_id in {m for m, _ in live}:
            tell_sync(meeting_id, cut_rooms, meeting_id, sorted(r for m, r in live if m == meeting_id))
        self.message_user(request, f"Đã thu hồi {n} liên kết phòng.")
