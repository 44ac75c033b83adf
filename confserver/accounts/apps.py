from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "confserver.accounts"
    verbose_name = "Tài khoản"
