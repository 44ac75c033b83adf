"""LOG_FORMAT=json (issue 13, item 5): each record is one line of JSON with time, level, logger, message and the
request's, meeting's and room's ids when known."""

import json
import logging

from django.test import RequestFactory

from confserver.audit.context import RequestContext
from confserver.observability import logs


def line(record_logger: logging.Logger, *args, **kwargs) -> dict:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Keep()
    record_logger.addHandler(handler)
    try:
        record_logger.error(*args, **kwargs)
    finally:
        record_logger.removeHandler(handler)
    text = logs.JsonFormatter().format(records[-1])
    assert "\n" not in text  # one line, whatever the message holds
    return json.loads(text)


def test_a_line_carries_its_fields_and_the_ids_given():
    out = line(logging.getLogger("confserver.test"), "phòng %s rời\nhọp", 12, extra={"meeting_id": 7, "room_id": 12})
    assert out["level"] == "ERROR" and out["logger"] == "confserver.test"
    assert out["message"] == "phòng 12 rời\nhọp"
    assert out["meeting_id"] == 7 and out["room_id"] == 12
    assert out["time"].endswith("+00:00") and "T" in out["time"]


def test_ids_bound_in_the_context_and_the_exception():
    token = logs.bind(meeting_id=3, room_id=None)
    try:
        raise ValueError("hỏng")
    except ValueError:
        out = line(logging.getLogger("x"), "failed", exc_info=True)
    finally:
        logs.unbind(token)
    assert out["meeting_id"] == 3 and "room_id" not in out
    assert "ValueError: hỏng" in out["exception"]


def test_the_request_being_served_gives_its_id_and_path():
    request = RequestFactory().get("/api/meetings/5", HTTP_X_REQUEST_ID="abc123")
    with RequestContext(lambda r: None).serving(request):
        out = line(logging.getLogger("confserver.api"), "hello")
    assert out["request_id"] == "abc123" and out["path"] == "/api/meetings/5" and out["method"] == "GET"
