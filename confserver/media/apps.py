from django.apps import AppConfig


class MediaConfig(AppConfig):
    name = "confserver.media"
    verbose_name = "Truyền hình (relay)"
