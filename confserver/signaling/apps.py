from django.apps import AppConfig


class SignalingConfig(AppConfig):
    name = "confserver.signaling"
    verbose_name = "Tín hiệu cuộc họp"
