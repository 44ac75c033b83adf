"""Coded errors shared by the HTTP API and the WebSocket protocol.

Domain functions raise `DomainError`; the API turns it into
`{"code": ..., "message": ...}` with `status`, the socket into
`{"type": "error", "id": ..., "code": ..., "message": ...}`.
"""


class DomainError(Exception):
    status = 400

    def __init__(self, code: str, message: str, *, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        if status is not None:
            self.status = status


class Forbidden(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409
