from django.apps import AppConfig


class TwoFactorConfig(AppConfig):
    name = "confserver.twofactor"
    label = "twofactor"
    verbose_name = "Xác thực hai lớp"
