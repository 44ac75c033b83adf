"""PDFium in sandboxed processes (pdfworker.py), each under an address-space limit and every job
under a CPU limit and a wall-clock timeout: a hostile PDF costs one worker process, never the
server's memory, its event loop or other documents' pages (issue 9, finding 6).

Upload checks get a fresh process each; page renders share a small pool of reused ones.
Failures are PdfError codes: the job's own, or "pdf_timeout", "pdf_too_complex" (the worker ran
out of memory or died), "busy" (every worker stayed taken while the caller waited).
"""

import atexit
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

from django.conf import settings

from .pdf import Limits, PdfError, PdfInfo


def release_db_connection() -> None:
    """Hand the request's database connection back (to the pool) before waiting on a PDF worker, which
    can take up to a minute and a half: outside a transaction the next query takes one again."""
    from django.db import connection

    if not connection.in_atomic_block:
        connection.close()


ROOT = Path(__file__).resolve().parents[2]
# Extracted text of a whole document (Limits.max_text_chars, 5 M) as JSON fits within this: UTF-8, at most
# 6 bytes a character (a control character's \u escape), and the pages' quotes and commas.
MAX_ANSWER_BYTES = 40 * 1024 * 1024
# Startup of a worker (Python and PDFium) on top of a job's own time.
START_GRACE_S = 3.0


def _setting(name: str, default):
    return getattr(settings, name, default)


def limits() -> Limits:
    return Limits(
        max_pages=_setting("AGENDA_MAX_PAGES", 2000), max_render_pixels=_setting("AGENDA_RENDER_MAX_PIXELS", 4_000_000)
    )


class Worker:
    """One pdfworker process and its two pipes."""

    def __init__(self, memory_mb: int):
        env = {**os.environ, "MALLOC_ARENA_MAX": "2", "PYTHONDONTWRITEBYTECODE": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "confserver.agenda.pdfworker", str(memory_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
            env=env,
        )
        self._jobs = Connection(os.dup(self.proc.stdin.fileno()), readable=False)
        self._answers = Connection(os.dup(self.proc.stdout.fileno()), writable=False)
        self.proc.stdin.close()
        self.proc.stdout.close()
        self.done = 0

    def alive(self) -> bool:
        return self.proc.poll() is None

    def call(self, job: dict, timeout: float) -> tuple[dict, bytes | None]:
        """Run `job` with `timeout` seconds of CPU and a little more of wall clock."""
        self.done += 1
        deadline = time.monotonic() + timeout + START_GRACE_S
        try:
            self._jobs.send_bytes(json.dumps({**job, "cpu_s": timeout}).encode())
            header = json.loads(self._receive(deadline))
            payload = self._receive(deadline) if header.get("ok") and "size" in header else None
        except (EOFError, OSError, ValueError):
            raise PdfError(self._death()) from None
        return header, payload

    def _receive(self, deadline: float) -> bytes:
        if not self._answers.poll(max(0.0, deadline - time.monotonic())):
            self.kill()
            raise PdfError("pdf_timeout")
        return self._answers.recv_bytes(MAX_ANSWER_BYTES)

    def _death(self) -> str:
        self.kill()
        return "pdf_timeout" if self.proc.returncode == -signal.SIGXCPU else "pdf_too_complex"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._jobs.close()
        self._answers.close()


class Pool:
    """At most `size` workers; a caller waits up to `wait` seconds for one. A worker is replaced
    after `max_jobs` jobs (1: a fresh process per job) or when it failed."""

    def __init__(self, size: int, memory_mb: int, max_jobs: int):
        self.config = (size, memory_mb, max_jobs)
        self.closed = False  # replaced (settings changed): a worker checked out now is killed, not returned
        self._closing = threading.Lock()
        self._slots: queue.LifoQueue = queue.LifoQueue()
        for _ in range(size):
            self._slots.put(None)

    def run(self, job: dict, *, timeout: float, wait: float) -> dict | tuple[dict, bytes]:
        try:
            worker = self._slots.get(timeout=wait)
        except queue.Empty:
            raise PdfError("busy") from None
        try:
            if worker is None or not worker.alive():
                worker = Worker(self.config[1])
            header, payload = worker.call(job, timeout)
            if worker.done >= self.config[2]:
                worker.kill()
                worker = None
        except BaseException:
            if worker is not None:
                worker.kill()
            worker = None
            raise
        finally:
            self._give_back(worker)
        if not header.get("ok"):
            raise PdfError(header.get("code", "pdf_unreadable"), header.get("page"))
        return header, payload

    def warm(self) -> None:
        """Start a worker ahead of need in an empty slot: Python and PDFium load meanwhile."""
        try:
            worker = self._slots.get_nowait()
        except queue.Empty:
            return
        try:
            if worker is None or not worker.alive():
                worker = Worker(self.config[1])
        finally:
            self._give_back(worker)

    def _give_back(self, worker: "Worker | None") -> None:
        with self._closing:
            if not self.closed:
                self._slots.put(worker)
                return
        if worker is not None:
            worker.kill()

    def close(self) -> None:
        with self._closing:
            self.closed = True
        while True:
            try:
                worker = self._slots.get_nowait()
            except queue.Empty:
                return
            if worker is not None:
                worker.kill()


_pools: dict[str, Pool] = {}
_pools_guard = threading.Lock()


def _pool(kind: str) -> Pool:
    memory = _setting("AGENDA_PDF_MEMORY_MB", 256)
    if kind == "check":
        config = (_setting("AGENDA_PDF_CHECKS", 2), memory, 1)
    else:
        config = (_setting("AGENDA_RENDER_WORKERS", 2), memory, 500)
    with _pools_guard:
        pool = _pools.get(kind)
        if pool is None or pool.config != config:
            if pool is not None:
                pool.close()
            pool = _pools[kind] = Pool(*config)
        return pool


@atexit.register
def _close_all() -> None:
    for pool in list(_pools.values()):
        pool.close()


def check(path: Path) -> PdfInfo:
    """pdf.inspect in a fresh sandboxed process."""
    header, _ = _pool("check").run(
        {"op": "inspect", "path": str(path), "limits": limits().as_dict()},
        timeout=_setting("AGENDA_PDF_CHECK_TIMEOUT_S", 60.0),
        wait=_setting("AGENDA_PDF_WAIT_S", 30.0),
    )
    return PdfInfo(page_count=header["page_count"], texts=header["texts"])


def signatures(path: Path) -> dict:
    """signatures.check (pyHanko) in a fresh sandboxed process, under the checks' limits. A file it cannot
    analyse in them is reported as such ("error"), not refused; "busy" is raised like the check's."""
    try:
        header, _ = _pool("check").run(
            {
                "op": "signatures",
                "path": str(path),
                "limits": limits().as_dict(),
                "trust_roots": [str(p) for p in _setting("AGENDA_TRUST_ROOTS", []) or []],
            },
            timeout=_setting("AGENDA_PDF_CHECK_TIMEOUT_S", 60.0),
            wait=_setting("AGENDA_PDF_WAIT_S", 30.0),
        )
    except PdfError as exc:
        if exc.code == "busy":
            raise
        return {"signed": False, "status": "error", "error": exc.code, "signatures": []}
    return header["report"]


def warm_renders() -> None:
    """A render worker ready for the pages of a document just uploaded."""
    _pool("render").warm()


def render(path: Path, page: int, width: int) -> bytes:
    """pdf.render_png in one of the render pool's processes."""
    _, png = _pool("render").run(
        {"op": "render", "path": str(path), "page": page, "width": width, "limits": limits().as_dict()},
        timeout=_setting("AGENDA_RENDER_TIMEOUT_S", 10.0),
        wait=_setting("AGENDA_PDF_WAIT_S", 30.0),
    )
    return png
