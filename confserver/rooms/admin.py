from django.contrib import admin

from .models import AdminUnit, Meeting, Participation, Room, TimelineEvent


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
class TimelineEventAdmin(admin.ModelAdmin):
    list_display = ("meeting", "at", "kind", "room", "actor")
    list_filter = ("kind",)
    raw_id_fields = ("meeting", "room", "actor")
