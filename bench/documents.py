"""Bench of meeting documents: ingest 1,000 generated Vietnamese PDFs (~10,000 pages),
then time search and cached page images through the HTTP API.

    .venv/bin/python bench/documents.py [--docs 1000] [--pages 10]

Uses a throwaway database made by Django's test-database machinery (on PostgreSQL
when DATABASE_URL points there: a separate `bench_agenda_<name>` database, dropped
at the end) and a temporary MEDIA_ROOT, so it never touches real data. Progress
goes to stdout; the last line is one JSON object with pages, index_s,
search_p95_ms and render_p95_ms.
"""

import argparse
import io
import json
import multiprocessing
import os
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "confserver.settings")
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(64))  # a throwaway key for this run


def _make(args):
    """In a worker process: one generated document (bytes) with a code only it holds."""
    from confserver.agenda.testing import pdfgen

    i, pages = args
    rng = random.Random(i)
    extra = {rng.randrange(pages): f"Quyết định số {i}/QĐ-UBND về việc phê duyệt đề án mã hồ sơ HS{i:05d}."}
    return i, pdfgen.make_pdf(pdfgen.vietnamese_pages(rng, pages, extra=extra), title=f"Tài liệu số {i}")


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[94] if len(values) > 1 else values[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--pages", type=int, default=10)
    ap.add_argument("--meetings", type=int, default=20)
    ap.add_argument("--searches", type=int, default=300)
    ap.add_argument("--renders", type=int, default=500)
    ap.add_argument("--keep", action="store_true", help="keep the bench database (and reuse it when run again)")
    opts = ap.parse_args()

    import django
    from django.conf import settings

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    media = Path(tempfile.mkdtemp(prefix="bench-agenda-media-"))
    settings.MEDIA_ROOT = media
    settings.AGENDA_WEBHOOK_URL = ""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.ALLOWED_HOSTS = ["testserver"]
    setup_test_environment()
    test_settings = connection.settings_dict.setdefault("TEST", {})
    if connection.vendor == "postgresql":
        test_settings["NAME"] = f"bench_agenda_{connection.settings_dict['NAME']}"
    old_name = connection.settings_dict["NAME"]
    print(f"creating throwaway {connection.vendor} database …", flush=True)
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=opts.keep)
    try:
        result = run(opts)
    finally:
        if not opts.keep:
            connection.creation.destroy_test_db(old_name, verbosity=0)
        shutil.rmtree(media, ignore_errors=True)
    print(json.dumps(result))


def run(opts) -> dict:
    from datetime import timedelta

    from django.test import Client
    from django.utils import timezone

    from confserver.accounts.models import Role, User
    from confserver.agenda import agenda, documents, publish
    from confserver.agenda.models import DocumentPage
    from confserver.agenda.testing import pdfgen
    from confserver.rooms import meetings, tokens
    from confserver.rooms.importer import ensure_default_rooms, import_file
    from confserver.rooms.meetings import Selection
    from confserver.rooms.models import AdminUnit, Room

    import_file(ROOT / "confserver" / "rooms" / "data" / "hue-2025.jsonl")
    ensure_default_rooms()
    hue = AdminUnit.objects.get(code="46")
    host = User.objects.create_user("bench-host", password="x" * 12, role=Role.HOST, unit=hue)
    commune = AdminUnit.objects.filter(parent=hue).order_by("code").first()
    terminal = User.objects.create_user(
        "bench-room", password="x" * 12, role=Role.TERMINAL, unit=commune, room=Room.objects.get(unit=commune)
    )
    start = timezone.now() + timedelta(days=1)
    ms = [
        meetings.create_meeting(
            host,
            host_unit_code="46",
            title=f"Họp số {k}",
            scheduled_start=start,
            scheduled_end=start + timedelta(hours=2),
            selection=Selection(),
        )
        for k in range(opts.meetings)
    ]
    items = [agenda.create_item(host, m, title="Báo cáo tình hình kinh tế - xã hội") for m in ms]

    print(f"generating and loading {opts.docs} PDFs × {opts.pages} pages …", flush=True)
    index_s, versions = 0.0, []
    t_all = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(max(1, (os.cpu_count() or 2) - 1)) as pool:
        for i, data in pool.imap(_make, ((i, opts.pages) for i in range(opts.docs)), chunksize=8):
            k = i % len(ms)
            t0 = time.perf_counter()
            v = documents.upload(
                host,
                ms[k],
                io.BytesIO(data),
                filename=f"tai-lieu-{i}.pdf",
                title=f"Tài liệu số {i}",
                item_id=items[k].id,
                confidential=(i % 10 == 0),
            )
            index_s += time.perf_counter() - t0
            versions.append(v)
            if (i + 1) % 100 == 0:
                print(
                    f"  {i + 1} documents, ingest {index_s:.1f} s, wall {time.perf_counter() - t_all:.1f} s", flush=True
                )
    for m in ms:
        publish.publish(host, m)
    pages = DocumentPage.objects.count()
    _analyze()

    client = Client()
    client.force_login(host)
    rng = random.Random(42)
    words = [w for p in pdfgen.PHRASES for w in p.split() if len(w) > 1]
    queries = []
    for n in range(opts.searches):
        kind = n % 4
        if kind == 0:
            q = rng.choice(pdfgen.PHRASES)  # accented phrase, common
        elif kind == 1:
            q = " ".join(rng.sample(words, 2))  # two words, maybe on the same page
        elif kind == 2:
            q = f"HS{rng.randrange(opts.docs):05d}"  # a code only one document holds
        else:
            from confserver.agenda.fold import fold

            q = fold(rng.choice(pdfgen.PHRASES))  # typed without diacritics
        url = "/api/agenda/search" if n % 2 == 0 else f"/api/agenda/meetings/{rng.choice(ms).id}/search"
        queries.append((url, q, kind))
    for url, q, _ in queries[:10]:  # warm up
        client.get(url, {"q": q})
    search_ms, by_kind = [], {}
    found = 0
    for url, q, kind in queries:
        t0 = time.perf_counter()
        r = client.get(url, {"q": q})
        ms_ = (time.perf_counter() - t0) * 1000
        search_ms.append(ms_)
        by_kind.setdefault(("phrase", "two words", "rare code", "no diacritics")[kind], []).append(ms_)
        assert r.status_code == 200, r.content
        found += bool(r.json())
    print(
        f"search: {len(queries)} queries, {found} with hits, p50 {statistics.median(search_ms):.1f} ms, "
        f"p95 {p95(search_ms):.1f} ms; p95 by kind: " + ", ".join(f"{k} {p95(v):.1f} ms" for k, v in by_kind.items()),
        flush=True,
    )

    room = Client()
    auth = {m.id: {"HTTP_AUTHORIZATION": f"Bearer {tokens.make_room_token(terminal, m)}"} for m in ms}
    targets = [
        (v.id, rng.randint(1, v.page_count), v.document.meeting_id)
        for v in rng.sample(versions, 50)
        if v.document.meeting_id in auth
    ]
    miss_ms = []
    for vid, page, mid in targets:  # first request renders and fills the cache
        t0 = time.perf_counter()
        r = room.get(f"/api/agenda/versions/{vid}/pages/{page}", {"width": 960}, **auth[mid])
        miss_ms.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, r.content
    render_ms = []
    for n in range(opts.renders):
        vid, page, mid = targets[n % len(targets)]
        t0 = time.perf_counter()
        r = room.get(f"/api/agenda/versions/{vid}/pages/{page}", {"width": 960}, **auth[mid])
        render_ms.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200 and r["Content-Type"] == "image/png"
    print(
        f"page images: first render p50 {statistics.median(miss_ms):.1f} ms; cached p50 "
        f"{statistics.median(render_ms):.1f} ms, p95 {p95(render_ms):.1f} ms",
        flush=True,
    )
    return {
        "pages": pages,
        "index_s": round(index_s, 1),
        "search_p95_ms": round(p95(search_ms), 1),
        "render_p95_ms": round(p95(render_ms), 1),
        "search_p50_ms": round(statistics.median(search_ms), 1),
        "render_p50_ms": round(statistics.median(render_ms), 1),
        "render_miss_p50_ms": round(statistics.median(miss_ms), 1),
        "documents": len(versions),
        "db": _vendor(),
    }


def _analyze() -> None:
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as c:
            c.execute("ANALYZE")


def _vendor() -> str:
    from django.db import connection

    return connection.vendor


if __name__ == "__main__":
    main()
