"""A sandboxed PDFium process (started by sandbox.py): `python -m confserver.agenda.pdfworker MEMORY_MB`.

Jobs come on stdin and answers go to stdout, framed as multiprocessing.connection messages: a JSON
header, then for a render the PNG's bytes. The process lives under an address-space limit, and each
job under a CPU-time limit (SIGXCPU ends it); no Django here, only pdf.py (and signatures.py's pyHanko).
"""

import json
import math
import os
import resource
import sys
from multiprocessing.connection import Connection
from pathlib import Path

MAX_JOB_BYTES = 64 * 1024


def limit_memory(megabytes: int) -> None:
    size = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (size, size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def limit_cpu(seconds: float) -> None:
    """At most `seconds` more of CPU for this job (the soft limit is cumulative over the process)."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(used.ru_utime + used.ru_stime + seconds)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))


class Jobs:
    """Runs jobs, keeping the last opened document: page turns mostly stay in one file."""

    def __init__(self, pdf):
        self.pdf = pdf
        self.path, self.doc = None, None

    def document(self, path: str):
        if path != self.path:
            self.close()
            self.doc, self.path = self.pdf.open_document(Path(path)), path
        return self.doc

    def close(self):
        if self.doc is not None:
            self.doc.close()
        self.path, self.doc = None, None

    def run(self, job: dict) -> tuple[dict, bytes | None]:
        pdf = self.pdf
        limits = pdf.Limits(**job["limits"])
        try:
            if job["op"] == "inspect":
                info = pdf.inspect(Path(job["path"]), limits)
                return {"ok": True, "page_count": info.page_count, "texts": info.texts}, None
            if job["op"] == "signatures":
                from confserver.agenda import signatures

                return {"ok": True, "report": signatures.check(Path(job["path"]), job.get("trust_roots", []))}, None
            if job["op"] == "render":
                png = pdf.render_png(self.document(job["path"]), job["page"], job["width"], limits)
                return {"ok": True, "size": len(png)}, png
            return {"ok": False, "code": "bad_job"}, None
        except pdf.PdfError as exc:
            return {"ok": False, "code": exc.code, "page": exc.page}, None
        except MemoryError:
            self.close()
            return {"ok": False, "code": "pdf_too_complex"}, None


def main(argv: list[str]) -> int:
    limit_memory(int(argv[1]))
    jobs_in = Connection(os.dup(0), writable=False)
    answers = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)  # nothing PDFium or Python prints may corrupt the answers
    from confserver.agenda import pdf

    jobs = Jobs(pdf)
    while True:
        try:
            job = json.loads(jobs_in.recv_bytes(MAX_JOB_BYTES))
        except EOFError:
            return 0
        limit_cpu(job["cpu_s"])
        header, payload = jobs.run(job)
        answers.send_bytes(json.dumps(header, ensure_ascii=False).encode())
        if payload is not None:
            answers.send_bytes(payload)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
