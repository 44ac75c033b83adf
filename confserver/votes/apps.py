from django.apps import AppConfig


class VotesConfig(AppConfig):
    name = "confserver.votes"
    label = "votes"
    verbose_name = "Đăng ký phát biểu và biểu quyết"
