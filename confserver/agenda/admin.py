from django.contrib import admin

from confserver.security.admin_access import ReadOnly

from .models import AgendaItem, Document, DocumentVersion, Publication, ReadReceipt, WebhookDelivery


@admin.register(AgendaItem)
class AgendaItemAdmin(admin.ModelAdmin):
    list_display = ("title", "meeting", "position", "presenter_unit", "planned_start", "planned_minutes")
    raw_id_fields = ("meeting", "presenter_unit")


class VersionInline(admin.TabularInline):
    model = DocumentVersion
    extra = 0
    fields = ("number", "is_current", "filename", "page_count", "size", "signature_status", "uploaded_at")
    readonly_fields = fields
    can_delete = False


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ("title", "meeting", "item", "confidential", "created_at")
    list_filter = ("confidential",)
    search_fields = ("title",)
    raw_id_fields = ("meeting", "item", "created_by")
    inlines = [VersionInline]


class RecordAdmin(ReadOnly, admin.ModelAdmin):
    """Rows the product writes as a record of what happened (publishing, its webhook calls, rooms opening
    documents): read here, never made or edited by hand."""


@admin.register(Publication)
class PublicationAdmin(RecordAdmin):
    list_display = ("meeting", "number", "published_at", "published_by")
    list_select_related = ("meeting", "published_by")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(RecordAdmin):
    list_display = ("id", "url", "attempts", "last_status", "delivered_at", "next_attempt_at", "last_error")
    list_filter = ("delivered_at",)


@admin.register(ReadReceipt)
class ReadReceiptAdmin(RecordAdmin):
    list_display = ("version", "room", "first_opened_at", "last_opened_at", "count")
    list_select_related = ("version__document", "room")
