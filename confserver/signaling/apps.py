from django.apps import AppConfig


class SignalingConfig(AppConfig):
    name = "confserver.signaling"
    verbose_name = "Tín hiệu cuộc họp"

    def ready(self):
        from confserver.media import service

        from . import control

        # The relay follows the program and the mutes that meeting control decides.
        control.PROGRAM_HOOKS.append(service.on_program)
        control.MUTE_HOOKS.append(service.on_mute)
