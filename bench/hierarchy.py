"""Import the national pre-2025 unit list and time subtree queries.

Runs in a throwaway test database (test_<name>, created and dropped here) on
whatever DATABASE_URL says: PostgreSQL for the figure that counts.
Last line: {"units", "import_s", "subtree_ms_p95", ...}.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/confserver .venv/bin/python bench/hierarchy.py
"""

import json
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "confserver.settings")
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(64))  # a throwaway key for this run

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

REPEAT = 60


def p95(samples):
    return statistics.quantiles(samples, n=20)[18]


def timed(fn, repeat=REPEAT):
    fn()  # warm
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def main():
    from confserver.rooms.hierarchy import communes
    from confserver.rooms.importer import import_file
    from confserver.rooms.models import AdminUnit

    t = time.perf_counter()
    result = import_file(ROOT / "confserver" / "rooms" / "data" / "units-pre2025.jsonl")
    import_s = time.perf_counter() - t
    print(f"imported {result.created} units in {import_s:.2f} s ({connection.vendor})", flush=True)
    t = time.perf_counter()
    again = import_file(ROOT / "confserver" / "rooms" / "data" / "units-pre2025.jsonl")
    print(
        f"re-import: {again.created} new, {again.updated} updated, {again.unchanged} unchanged "
        f"in {time.perf_counter() - t:.2f} s",
        flush=True,
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE rooms_adminunit")

    country = AdminUnit.objects.get(code="VN")
    hanoi = AdminUnit.objects.get(code="01")

    def select(unit):
        return lambda: list(communes(unit).values_list("id", "code", "name", "parent_id"))

    n_country = len(select(country)())
    n_hanoi = len(select(hanoi)())
    national = timed(select(country))
    province = timed(select(hanoi))
    objects = timed(lambda: list(communes(country)), repeat=20)
    print(f"national communes: {n_country} rows, p50 {statistics.median(national):.1f} ms, p95 {p95(national):.1f} ms")
    print(f"Hà Nội communes: {n_hanoi} rows, p50 {statistics.median(province):.2f} ms, p95 {p95(province):.2f} ms")
    print(f"national communes as model objects: p95 {p95(objects):.1f} ms")
    print(
        json.dumps(
            {
                "units": AdminUnit.objects.count(),
                "import_s": round(import_s, 2),
                "subtree_ms_p95": round(p95(national), 2),
                "province_subtree_ms_p95": round(p95(province), 2),
                "national_objects_ms_p95": round(p95(objects), 2),
                "database": connection.vendor,
            }
        )
    )


if __name__ == "__main__":
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        main()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
