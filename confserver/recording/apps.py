from django.apps import AppConfig


class RecordingConfig(AppConfig):
    name = "confserver.recording"
    verbose_name = "Ghi hình"
