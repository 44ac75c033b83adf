"""Sending a recording's file: byte ranges from our own view, or X-Accel-Redirect to the reverse proxy.

Django's FileResponse ignores Range, and Chromium seeks a <video> only through ranges (issue 10, item 10). With
`RECORDINGS_ACCEL_PREFIX` set the file is handed to the proxy (nginx `internal` location) after the permission
check, and the proxy serves the bytes and the ranges.
"""

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse, StreamingHttpResponse

from confserver.errors import DomainError

from . import ranges

CHUNK = 256 * 1024
# A player asks for `bytes=N-` (to the end), reads what its demuxer needs (about 100 KB after a seek) and hangs
# up. daphne has no backpressure (the ASGI `send` returns at once, Twisted buffers whatever it is given), so
# such a request read the rest of the file into the worker's memory at disk speed until the browser hung up:
# tens of MB per seek (≈ 90 MB/s, the RSS grew by the file's size), competing for the CPU with the next seek's
# request (bench/_recording_seek.py). A player's open-ended range is answered with at most this many bytes; the
# Content-Range says which, and the player asks for the rest when it needs it (checked with Chromium).
PLAYER_SPAN = 1024 * 1024


def send(
    request,
    path: Path,
    rel: str,
    *,
    log: Callable[[], object],
    always_log: bool,
    missing: DomainError,
    attachment: str | None = None,
):
    """200 whole, 206 for `Range: bytes=a-b | a- | -n`, 416 beyond the end, or an X-Accel-Redirect.

    `log()` is called for a request from byte 0 (or without Range), or for every request with `always_log`: a
    player asks for many ranges while it plays and seeks, and one playback is logged once. `attachment` names
    the file for a download (Content-Disposition); without it (a player) `bytes=a-` gets at most PLAYER_SPAN
    bytes. The file is opened before anything is answered or logged:
    one removed meanwhile (the retention, a rebuilt download) raises `missing`; one removed while it is being
    sent is still sent whole (the open file outlives its name)."""
    header = request.META.get("HTTP_RANGE")
    prefix = getattr(settings, "RECORDINGS_ACCEL_PREFIX", "")
    if prefix:
        if always_log or _from_start(header):
            log()
        response = HttpResponse(content_type="video/webm")
        response["X-Accel-Redirect"] = f"{prefix.rstrip('/')}/{quote(rel)}"
        return _disposition(response, attachment)

    try:
        f = open(path, "rb")
    except OSError:
        raise missing from None
    try:
        size = os.fstat(f.fileno()).st_size
        span = ranges.parse(header, size)
    except ranges.Unsatisfiable:
        f.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        response["Accept-Ranges"] = "bytes"
        return response
    except BaseException:
        f.close()
        raise
    if always_log or span is None or span[0] == 0:
        log()
    first, last = span if span is not None else (0, size - 1)
    if span is not None and attachment is None and _open_ended(header):
        last = min(last, first + PLAYER_SPAN - 1)
        span = first, last
    length = last - first + 1 if size else 0
    # Under ASGI (daphne) Django collects a synchronous iterator into one list before sending it
    # (StreamingHttpResponse.__aiter__): hand it an asynchronous one there, so memory stays one chunk.
    body = _aread(f, first, length) if isinstance(request, ASGIRequest) else _read(f, first, length)
    response = StreamingHttpResponse(body, status=206 if span else 200, content_type="video/webm")
    response._resource_closers.append(f.close)  # also when the body is never read (as FileResponse does)
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    if span:
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    return _disposition(response, attachment)


def inside_root(rel: str) -> Path | None:
    """The file `rel` names under RECORDINGS_ROOT, if it is there and does not lead outside it."""
    base = Path(settings.RECORDINGS_ROOT).resolve()
    path = (base / rel).resolve()
    return path if path.is_relative_to(base) and path.is_file() else None


def _from_start(header: str | None) -> bool:
    try:
        span = ranges.parse(header, 2**63)
    except ranges.Unsatisfiable:
        return False
    return span is None or span[0] == 0


def _open_ended(header: str) -> bool:
    """`bytes=a-`: to the end of the file (a suffix `bytes=-n` and a closed `bytes=a-b` are bounded already)."""
    return header.rstrip().endswith("-")


def _read(f, offset: int, length: int):
    """The bytes offset..offset+length of the open file `f` in chunks, never the whole file in memory."""
    with f:
        f.seek(offset)
        while length > 0:
            chunk = f.read(min(CHUNK, length))
            if not chunk:
                return  # the file shrank under us; the client sees a short body
            length -= len(chunk)
            yield chunk


async def _aread(f, offset: int, length: int):
    """As `_read`, each chunk read in a thread so the event loop never waits on the disk."""
    try:
        await asyncio.to_thread(f.seek, offset)
        while length > 0:
            chunk = await asyncio.to_thread(f.read, min(CHUNK, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk
    finally:
        await asyncio.to_thread(f.close)


def _disposition(response, attachment: str | None):
    if attachment:
        response["Content-Disposition"] = f'attachment; filename="{attachment}"'
    return response
