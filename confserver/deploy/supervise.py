"""A small process supervisor for the one-machine production shape (bin/prod; issue 13, item 1).

Each child is restarted when it exits: at once after a run of STABLE_S or more (a crash, a SIGKILL: back within
a poll, ~0.1 s), then with back-off while it keeps crashing (1, 2, 4 … MAX_DELAY_S s). SIGTERM or SIGINT stops
every child (SIGTERM, then SIGKILL after STOP_S) and returns. Children get PR_SET_PDEATHSIG, so even a
supervisor that is itself killed leaves none behind. The pids are written to a JSON file on every change (tests,
operators: `kill -9 $(jq .relay-0 var/prod/pids.json)`).
"""

import ctypes
import json
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("confserver.supervise")

STABLE_S = 10.0
MAX_DELAY_S = 30.0
STOP_S = 10.0
POLL_S = 0.1
_PR_SET_PDEATHSIG = 1


def restart_delay(failures: int) -> float:
    """Seconds to wait before the next start, after `failures` short runs in a row (0 after a long run)."""
    return 0.0 if failures <= 0 else min(MAX_DELAY_S, 2.0 ** (failures - 1))


def _die_with_parent():  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict | None = None
    log: Path | None = None
    stop_signal: int = signal.SIGTERM
    proc: subprocess.Popen | None = None
    started: float = 0.0
    failures: int = 0
    next_start: float = 0.0
    restarts: int = 0
    history: list = field(default_factory=list)  # (exit code, seconds it ran)

    def start(self, cwd: Path | None = None) -> subprocess.Popen:
        out = open(self.log, "ab") if self.log else None
        try:
            proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=cwd,
                stdout=out or subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
                process_group=0,
            )  # Ctrl-C reaches the supervisor alone
        finally:
            if out is not None:
                out.close()
        self.proc, self.started = proc, time.monotonic()
        return proc


class Supervisor:
    def __init__(self, children: list[Child], pids_file: Path | None = None, cwd: Path | None = None):
        self.children = children
        self.pids_file = pids_file
        self.cwd = cwd
        self.stopping = False

    def request_stop(self, *_):
        self.stopping = True

    def start_all(self):
        for child in self.children:
            log.info("started %s (pid %s)", child.name, child.start(self.cwd).pid)
        self._write_pids()

    def step(self, now: float | None = None) -> bool:
        """Reap and restart once; True when something changed."""
        now = time.monotonic() if now is None else now
        changed = False
        for child in self.children:
            proc = child.proc
            if proc is not None and proc.poll() is not None:
                ran = now - child.started
                child.history.append((proc.returncode, round(ran, 2)))
                child.failures = child.failures + 1 if ran < STABLE_S else 0
                child.next_start = now + restart_delay(child.failures)
                log.warning(
                    "%s exited with %s after %.1f s; restart in %.1f s",
                    child.name,
                    proc.returncode,
                    ran,
                    child.next_start - now,
                )
                child.proc = None
                changed = True
            if child.proc is None and not self.stopping and now >= child.next_start:
                pid = child.start(self.cwd).pid
                child.restarts += 1
                log.warning("restarted %s (pid %s)", child.name, pid)
                changed = True
        if changed:
            self._write_pids()
        return changed

    def run(self, on_tick=None):
        """Supervise until SIGTERM/SIGINT, then stop every child (`on_tick()` after each step)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.request_stop)
        try:
            while not self.stopping:
                self.step()
                if on_tick is not None:
                    on_tick()
                time.sleep(POLL_S)
        finally:
            self.stop_all()

    def stop_all(self):
        self.stopping = True
        running = [(c, c.proc) for c in self.children if c.proc is not None and c.proc.poll() is None]
        for child, proc in running:
            try:
                proc.send_signal(child.stop_signal)
            except ProcessLookupError:
                pass
        end = time.monotonic() + STOP_S
        for child, proc in running:
            try:
                proc.wait(max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %s s: killed", child.name, STOP_S)
                proc.kill()
                proc.wait()
        if self.pids_file is not None:
            self.pids_file.unlink(missing_ok=True)

    def _write_pids(self):
        if self.pids_file is None:
            return
        pids = {c.name: c.proc.pid for c in self.children if c.proc is not None}
        tmp = self.pids_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"supervisor": os.getpid(), **pids}))
        tmp.replace(self.pids_file)
