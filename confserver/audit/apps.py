from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "confserver.audit"
    verbose_name = "Nhật ký kiểm toán"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import hooks  # noqa: F401  (connects the signal receivers)
