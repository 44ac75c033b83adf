"""LOG_FORMAT=json: one JSON object per line (time, level, logger, message, and the request's, meeting's and room's
ids when known), for a log collector to keep and search (issue 13: logs kept centrally for months).

Ids come from the record (`log.info(..., extra={"meeting_id": 7})`), else from `bind()` in the current context
(a socket's task binds its meeting and room), else from the request being served (its X-Request-ID header, e.g.
nginx's `$request_id`, its method and path).
"""

import contextvars
import json
import logging
from datetime import UTC, datetime

IDS = ("request_id", "meeting_id", "room_id")
_bound: contextvars.ContextVar[dict | None] = contextvars.ContextVar("log_ids", default=None)


def bind(**ids) -> contextvars.Token:
    """Ids every later log line of this context carries (None values are left out); `unbind(token)` undoes it."""
    return _bound.set({**(_bound.get() or {}), **{k: v for k, v in ids.items() if v is not None}})


def unbind(token: contextvars.Token) -> None:
    _bound.reset(token)


def _request_fields() -> dict:
    from confserver.audit.context import current_request

    request = current_request()
    if request is None:
        return {}
    fields = {"method": request.method, "path": request.path}
    if request.META.get("HTTP_X_REQUEST_ID"):
        fields["request_id"] = request.META["HTTP_X_REQUEST_ID"][:100]
    return fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        try:
            out.update(_request_fields())
        except Exception:  # no Django yet, or no request: the line goes out without them
            pass
        out.update(_bound.get() or {})
        for key in IDS:
            value = getattr(record, key, None)
            if value is not None:
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False, default=str)
