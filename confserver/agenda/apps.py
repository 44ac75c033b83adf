from django.apps import AppConfig


class AgendaConfig(AppConfig):
    name = "confserver.agenda"
    verbose_name = "Chương trình họp và tài liệu"
