"""PostgreSQL only: a stored tsvector of the folded page text, and its GIN index.

`fts` is a generated column the models do not declare (SQLite has no tsvector);
search.py matches against it. Computing to_tsvector per row at query time was
far slower than reading a stored vector; strip() drops word positions (search
needs none), which halves the vector and keeps it out of TOAST. fastupdate is
off: with it, a batch of uploads left entries in the index's pending list, which
every search scans linearly until a vacuum (bench: search p95 ~150 ms right
after loading instead of ~30 ms). Note: to change the type of `folded` later,
drop `fts` first, then add it back.
"""

from django.db import migrations

FORWARD = [
    "ALTER TABLE agenda_documentpage ADD COLUMN IF NOT EXISTS fts tsvector "
    "GENERATED ALWAYS AS (strip(to_tsvector('simple'::regconfig, folded))) STORED",
    "CREATE INDEX IF NOT EXISTS agenda_page_fts ON agenda_documentpage USING gin (fts) WITH (fastupdate = off)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS agenda_page_fts",
    "ALTER TABLE agenda_documentpage DROP COLUMN IF EXISTS fts",
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in FORWARD:
            schema_editor.execute(sql)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in BACKWARD:
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("agenda", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
