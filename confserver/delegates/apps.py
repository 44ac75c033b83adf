from django.apps import AppConfig


class DelegatesConfig(AppConfig):
    name = "confserver.delegates"
    verbose_name = "Đại biểu"

    def ready(self):
        from . import notify

        notify.connect()
