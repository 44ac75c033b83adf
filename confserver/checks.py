"""System checks of the deployment's secrets (registered by RoomsConfig.ready)."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from confserver import secretkey

HINT = "Đặt SECRET_KEY ngẫu nhiên, ví dụ: python3 -c 'import secrets; print(secrets.token_urlsafe(64))'."


@register(Tags.security)
def secret_key(app_configs, **kwargs):
    """A public or weak SECRET_KEY lets anyone forge room tokens: an error unless DEBUG."""
    problem = secretkey.problem(settings.SECRET_KEY)
    if problem is None:
        return []
    if settings.DEBUG:
        return [Warning(problem, hint=HINT, id="confserver.W001")]
    return [Error(problem, hint=HINT, id="confserver.E001")]


@register(Tags.security, deploy=True)
def secret_key_deploy(app_configs, **kwargs):
    """`check --deploy` refuses a public or weak key even with DEBUG on."""
    problem = secretkey.problem(settings.SECRET_KEY)
    if problem is None or not settings.DEBUG:
        return []  # without DEBUG, secret_key above already reports it as an error
    return [Error(problem, hint=HINT, id="confserver.E001")]
