"""Signal receivers that feed the audit log: sign-in, sign-out and failures (Django's auth signals), account and
role changes (any save of a user or group, from the admin or elsewhere), recording views and downloads (each row
of the recordings' own access log, confserver/recording/access.py, is copied here)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.dispatch import receiver

from confserver.recording.models import RecordingAccess

from . import log

User = get_user_model()
# What an account change is about; a save touching only last_login (every sign-in) is not a change.
ACCOUNT_FIELDS = (
    "username",
    "role",
    "unit_id",
    "room_id",
    "is_active",
    "is_staff",
    "is_superuser",
    "password",
    "first_name",
    "last_name",
    "email",
)


@receiver(user_logged_in)
def _signed_in(sender, request, user, **kwargs):
    log.record("auth.sign_in", user=user, request=request, obj=user)


@receiver(user_logged_out)
def _signed_out(sender, request, user, **kwargs):
    if user is not None:
        log.record("auth.sign_out", user=user, request=request, obj=user)


@receiver(user_login_failed)
def _sign_in_failed(sender, credentials, request=None, **kwargs):
    # The attempted name, never the password (Django already masks it in `credentials`).
    name = str(credentials.get("username") or "")[:150]
    log.record("auth.sign_in_failed", user=None, request=request, username=name, attempted=name)


@receiver(pre_save, sender=User)
def _account_before(sender, instance, **kwargs):
    old = sender.objects.filter(pk=instance.pk).values(*ACCOUNT_FIELDS).first() if instance.pk else None
    instance._audit_before = old


@receiver(post_save, sender=User)
def _account_saved(sender, instance, created, update_fields=None, raw=False, **kwargs):
    if raw:
        return
    if created:
        log.record("account.create", obj=instance, role_set=instance.role, active=instance.is_active)
        return
    old = getattr(instance, "_audit_before", None) or {}
    changed = sorted(f for f in ACCOUNT_FIELDS if f in old and old[f] != getattr(instance, f))
    if not changed:
        return
    data = {"fields": changed}
    if "role" in changed:
        data["role_from"], data["role_to"] = old["role"], instance.role
    action = "account.role_change" if {"role", "is_staff", "is_superuser"} & set(changed) else "account.change"
    log.record(action, obj=instance, **data)


@receiver(post_delete, sender=User)
def _account_deleted(sender, instance, **kwargs):
    log.record("account.delete", obj=instance)


@receiver(m2m_changed, sender=User.groups.through)
def _account_groups(sender, instance, action, pk_set, **kwargs):
    if action in ("post_add", "post_remove", "post_clear"):
        target = instance if isinstance(instance, User) else None
        log.record(
            "account.groups",
            obj=instance,
            change=action[5:],
            ids=sorted(pk_set or []),
            account=target.get_username() if target else None,
        )


@receiver(m2m_changed, sender=User.user_permissions.through)
@receiver(m2m_changed, sender=Group.permissions.through)
def _permissions(sender, instance, action, pk_set, **kwargs):
    if action in ("post_add", "post_remove", "post_clear"):
        log.record("account.permissions", obj=instance, change=action[5:], ids=sorted(pk_set or []))


@receiver(post_save, sender=Group)
def _group_saved(sender, instance, created, raw=False, **kwargs):
    if not raw:
        log.record("group.create" if created else "group.change", obj=instance)


@receiver(post_delete, sender=Group)
def _group_deleted(sender, instance, **kwargs):
    log.record("group.delete", obj=instance)


@receiver(post_save, sender=RecordingAccess)
def _recording_access(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        log.record(
            f"recording.{instance.action}",
            user=instance.user,
            obj=instance.segment,
            meeting=instance.meeting_id,
            ip=instance.client_address,
            access_id=instance.pk,
        )
