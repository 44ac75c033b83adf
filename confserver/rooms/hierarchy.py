"""Subtree queries over the materialised path: one indexed query, no walk."""

from django.db.models import QuerySet

from .models import PATH_SEP, AdminUnit, Level


def make_path(parent_path: str | None, code: str) -> str:
    return f"{parent_path or ''}{code}{PATH_SEP}"


def subtree(
    unit: AdminUnit, *, max_level: int | None = None, only_level: int | None = None, include_self: bool = True
) -> QuerySet[AdminUnit]:
    """Every unit under `unit` (itself included unless told), optionally cut at a level.

    `max_level` keeps units down to that level (e.g. Level.DISTRICT keeps the
    province and its districts); `only_level` keeps one level (every commune).
    Works the same whether or not the district level exists.
    """
    qs = AdminUnit.objects.filter(path__startswith=unit.path)
    if not include_self:
        qs = qs.exclude(pk=unit.pk)
    if max_level is not None:
        qs = qs.filter(level__lte=max_level)
    if only_level is not None:
        qs = qs.filter(level=only_level)
    return qs


def ancestors(unit: AdminUnit) -> QuerySet[AdminUnit]:
    """The unit's ancestors from the top down, itself excluded."""
    codes = unit.path.split(PATH_SEP)[:-2]
    return AdminUnit.objects.filter(code__in=codes).order_by("level")


def communes(unit: AdminUnit) -> QuerySet[AdminUnit]:
    return subtree(unit, only_level=Level.COMMUNE)


def tree(unit: AdminUnit) -> QuerySet[AdminUnit]:
    """The subtree of `unit` in tree order (by path), each unit with `n_rooms`, its active rooms: what
    the meetings page draws as a tree with checkboxes and counts from (issue 12, item 4)."""
    from django.db.models import Count, Q

    return (
        subtree(unit)
        .select_related("parent")
        .order_by("path")
        .annotate(n_rooms=Count("rooms", filter=Q(rooms__is_active=True)))
    )
