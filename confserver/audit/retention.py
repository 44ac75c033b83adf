"""Keeping the audit log AUDIT_RETENTION_DAYS days (default 365; at least 30: the database refuses sooner)."""

import datetime as dt

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .models import AuditEvent

FLOOR_DAYS = 30  # the PostgreSQL trigger's own bound (migration 0002)


def cutoff(now=None) -> dt.datetime:
    days = max(int(settings.AUDIT_RETENTION_DAYS), FLOOR_DAYS)
    return (now or timezone.now()) - dt.timedelta(days=days)


def prune(*, dry_run: bool = False, now=None) -> int:
    """Remove events older than the retention; the number removed (or that would be)."""
    limit = cutoff(now)
    old = AuditEvent.objects.filter(at__lt=limit)
    if dry_run:
        return old.count()
    table = AuditEvent._meta.db_table
    sql = f"DELETE FROM {table} WHERE at < %s"
    with transaction.atomic(), connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SET LOCAL confserver.audit_prune = 'on'")
            # The trigger's floor by the database's clock: where this server's runs ahead of it, a row between
            # the two 30-day bounds would make the trigger refuse the whole DELETE, and nothing be pruned.
            sql += f" AND at < now() - interval '{FLOOR_DAYS} days'"
        # Raw SQL: the model's manager refuses deletes to the rest of the application.
        cur.execute(sql, [connection.ops.adapt_datetimefield_value(limit)])
        return cur.rowcount
