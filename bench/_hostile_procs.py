"""Processes of bench/hostile.py: its own redis-server (killed and restarted on the same port),
daphne workers that can be killed and started again, and a memory sampler over a process tree."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from confserver.testing import live


def log(*a):
    """Progress and reasons go to stderr: stdout's last line is the result."""
    print(*a, file=sys.stderr, flush=True)


def _wait_port(port: int, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


class Worker:
    """One daphne worker on a fixed port; `kill9` and `start` may follow each other."""

    def __init__(self, env: dict, port: int, log_dir: Path):
        self.env, self.port, self.log_dir = env, port, log_dir
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        self.starts += 1
        log = open(self.log_dir / f"daphne-{self.port}-{self.starts}.log", "wb")
        self.proc = subprocess.Popen(
            [
                str(Path(live.PYTHON).parent / "daphne"),
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "confserver.asgi:application",
            ],
            env=self.env,
            cwd=live.ROOT,
            stdout=log,
            stderr=log,
        )
        log.close()
        live.wait_port(self.port, self.proc)

    def kill9(self):
        """SIGKILL the worker and any processes it started."""
        if not self.alive():
            return
        for pid in [*descendants(self.pid), self.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()

    def stop(self):
        if not self.alive():
            return
        kids = descendants(self.pid)
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def restart(self):
        self.stop()
        self.start()


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (from /proc: this kernel has no task/*/children)."""
    parent = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        parent[int(name)] = int(stat[stat.rindex(b")") + 2 :].split()[1])
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


def status_kb(pid: int, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_hwm(pid: int):
    """Reset the peak RSS (VmHWM) to the current RSS (Linux >= 4.0)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


class Sampler:
    """The memory of a worker and its children, every `every` s, in a thread; `peak_mb` is the growth
    over the baseline taken at start. The worker counts by its RSS (and its VmHWM at the end, for
    spikes between samples), each child by its VmHWM, so a short-lived PDF sandbox process counts
    with its peak. Calls `over_limit` once if the tree passes `limit_mb` (the case aborts)."""

    def __init__(self, pid: int, every: float = 0.05, limit_mb: float | None = None, over_limit=None):
        self.pid, self.every, self.limit_mb, self.over_limit = pid, every, limit_mb, over_limit
        self.samples = 0
        self.exceeded = False
        self._stop = threading.Event()

    def tree_mb(self, field: str = "VmRSS", look: bool = True) -> float:
        if look:  # often: a sandbox child may live for less than a second
            self._kids = descendants(self.pid)
        return ((status_kb(self.pid, field) or 0) + sum(status_kb(k, "VmHWM") or 0 for k in self._kids)) / 1024

    def __enter__(self):
        for pid in [self.pid, *descendants(self.pid)]:
            reset_hwm(pid)
        self.baseline_mb = self.tree_mb()
        self.max_mb = self.baseline_mb
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(self.every):
            mb = self.tree_mb(look=self.samples % 2 == 0)  # scanning /proc costs a few ms
            self.samples += 1
            self.max_mb = max(self.max_mb, mb)
            if self.limit_mb and mb > self.limit_mb and not self.exceeded:
                self.exceeded = True
                if self.over_limit:
                    self.over_limit()

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        if status_kb(self.pid, "VmHWM"):
            self.max_mb = max(self.max_mb, self.tree_mb("VmHWM"))
        self.end_mb = self.tree_mb()

    @property
    def peak_mb(self) -> float:
        return round(self.max_mb - self.baseline_mb, 1)


class PgGuard:
    """Keeps the bench's throwaway database under `cap` connections on a PostgreSQL server others
    share: above it, that database's idle backends are ended (a leaking server must not take the
    whole server's max_connections). `count()` is the current number."""

    def __init__(self, admin_url: str, db_name: str, cap: int, every: float = 0.2):
        self.admin_url, self.db_name, self.cap, self.every = admin_url, db_name, cap, every
        self.terminated = 0
        self.max_seen = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def count(self) -> int:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [self.db_name]).fetchone()[
                0
            ]

    def _run(self):
        import psycopg

        while not self._stop.wait(self.every):
            try:
                with psycopg.connect(self.admin_url, autocommit=True) as conn:
                    n = conn.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [self.db_name]
                    ).fetchone()[0]
                    self.max_seen = max(self.max_seen, n)
                    if n > self.cap:
                        self.terminated += conn.execute(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE datname = %s AND state = 'idle'",
                            [self.db_name],
                        ).fetchone()[0]
            except Exception:
                pass

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join()


def mb(sampler: Sampler, limit: float):
    """A case's memory figure: the growth, or "> limit" when the worker was killed for passing it."""
    return f"> {limit:g}" if sampler.exceeded else sampler.peak_mb
