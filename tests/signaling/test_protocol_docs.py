from django.core.management import call_command


def test_published_schemas_are_current():
    """docs/protocol-*.schema.json must match the models (run manage.py protocol_schema after a change)."""
    call_command("protocol_schema", "--check")


def test_schema_lists_every_client_type():
    from confserver.signaling.protocol import CLIENT_TYPES, schemas

    text = str(schemas()["client"])
    assert all(f"'{t}'" in text for t in CLIENT_TYPES)
