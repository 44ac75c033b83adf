from django.apps import AppConfig


class RoomsConfig(AppConfig):
    name = "confserver.rooms"
    verbose_name = "Đơn vị, phòng họp và cuộc họp"
