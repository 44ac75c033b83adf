"""The database refuses to change audit rows (issue 13, item 3).

PostgreSQL: a trigger refuses every UPDATE, and a DELETE unless the session set
`confserver.audit_prune` to 'on' (only `manage.py prune_audit` does, in its own transaction) and the row is
older than 30 days. TRUNCATE is left to the database's owner (the test suite's flush uses it); the
application never issues it. SQLite (embedded default): triggers refuse UPDATE; deletes are refused by the model's manager
only (SQLite has no session variable for the pruner to show).
"""

from django.db import migrations

PG_UP = """
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('confserver.audit_prune', true) = 'on'
     AND OLD.at < now() - interval '30 days' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit_auditevent is append-only (%)', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_append_only_rows BEFORE UPDATE OR DELETE ON audit_auditevent
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
"""
PG_DOWN = """
DROP TRIGGER IF EXISTS audit_append_only_rows ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_append_only();
"""
SQLITE_UP = """
CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit_auditevent
BEGIN SELECT RAISE(ABORT, 'audit_auditevent is append-only (UPDATE)'); END;
"""
SQLITE_DOWN = "DROP TRIGGER IF EXISTS audit_append_only_update;"


def up(apps, schema_editor):
    sql = {"postgresql": PG_UP, "sqlite": SQLITE_UP}.get(schema_editor.connection.vendor)
    if sql:
        with schema_editor.connection.cursor() as cur:  # no parameters: the function's '%' is not a placeholder
            cur.execute(sql)


def down(apps, schema_editor):
    sql = {"postgresql": PG_DOWN, "sqlite": SQLITE_DOWN}.get(schema_editor.connection.vendor)
    if sql:
        with schema_editor.connection.cursor() as cur:  # no parameters: the function's '%' is not a placeholder
            cur.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(up, down)]
