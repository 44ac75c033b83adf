"""Real servers for tests and benchmarks: a throwaway database and daphne processes on loopback.

Used where the thing under test is the deployed shape itself (several daphne
workers sharing Redis, a browser talking to a server): nothing here is mocked.
"""

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent.parent
PYTHON = sys.executable
# The servers one test or bench run starts share a key (tokens made by one are read by another).
RUN_KEY = secrets.token_urlsafe(64)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def throwaway_database(base_url: str | None):
    """A fresh database URL: a new PostgreSQL database next to `base_url`, else a temp SQLite file."""
    if base_url and base_url.startswith(("postgres://", "postgresql://")):
        import psycopg

        u = urlparse(base_url)
        name = f"confserver_live_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = u._replace(path="/postgres").geturl().replace("postgres://", "postgresql://", 1)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield u._replace(path=f"/{name}").geturl()
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        with tempfile.TemporaryDirectory() as d:
            yield f"sqlite:///{d}/live.sqlite3"


def server_env(database_url: str, ports: list[int], **extra) -> dict:
    env = dict(os.environ)
    env.setdefault("SECRET_KEY", RUN_KEY)
    env.update(
        {
            "DATABASE_URL": database_url,
            "LIVE_PREFIX": f"live-{uuid.uuid4().hex[:10]}",
            "CHANNEL_PREFIX": f"live-{uuid.uuid4().hex[:10]}",
            "WS_ALLOWED_ORIGINS": ",".join(f"http://127.0.0.1:{p}" for p in ports),
            "MEDIA_ICE_HOSTS": "127.0.0.1",
            "DJANGO_SETTINGS_MODULE": "confserver.settings",
            "CONFSERVER_VAR_DIR": tempfile.mkdtemp(prefix="confserver-var-"),
        }
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def manage(env: dict, *args, timeout=300) -> str:
    out = subprocess.run(
        [PYTHON, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    if out.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def run_python(env: dict, module: str, *args, timeout=300) -> str:
    out = subprocess.run(
        [PYTHON, "-m", module, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    if out.returncode:
        raise RuntimeError(f"python -m {module} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def wait_port(port: int, proc: subprocess.Popen, timeout=90.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"daphne exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"daphne did not listen on {port} within {timeout} s")


@contextmanager
def daphne(env: dict, port: int, log_path: Path | None = None, *options: str, app: str = "confserver.asgi:application"):
    """One daphne worker on 127.0.0.1:port serving `app` (`options`: more of daphne's own); stopped (and reaped) on
    exit."""
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(
        [
            str(Path(PYTHON).parent / "daphne"),
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            *options,
            app,
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=log,
    )
    try:
        wait_port(port, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log_path:
            log.close()


class OwnRedis:
    """A redis-server of a test's or bench's own on a loopback port (never the shared one), without
    persistence unless told to SAVE: killed and started again, it comes back empty or with its dump."""

    def __init__(self, port: int | None = None, workdir: Path | None = None, log: Path | None = None):
        self.port, self.workdir, self.log = port or free_port(), workdir, log
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> float:
        """Start it and return the time (monotonic) it answers."""
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        if self.workdir is not None:
            cmd += ["--dir", str(self.workdir)]
        if self.log is not None:
            cmd += ["--logfile", str(self.log)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return time.monotonic()
            except OSError:
                time.sleep(0.02)
        raise TimeoutError("redis-server did not start")

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def save_and_kill(self):
        """Write its dump (into `workdir`), then kill it: the next start keeps the data."""
        subprocess.run(["redis-cli", "-p", str(self.port), "SAVE"], check=True, capture_output=True)
        self.kill()

    def dbsize(self) -> int | None:
        out = subprocess.run(["redis-cli", "-p", str(self.port), "dbsize"], capture_output=True, text=True, timeout=10)
        return int(out.stdout) if out.stdout.strip().isdigit() else None
