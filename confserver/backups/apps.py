from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "confserver.backups"
    label = "backups"
    verbose_name = "Sao lưu và khôi phục"
