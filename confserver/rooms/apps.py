from django.apps import AppConfig


class RoomsConfig(AppConfig):
    name = "confserver.rooms"
    verbose_name = "Đơn vị, phòng họp và cuộc họp"

    def ready(self):
        from confserver import checks  # noqa: F401  registers the SECRET_KEY checks
