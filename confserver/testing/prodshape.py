"""bin/prod brought up for a test or bench (issue 13, item 1): a throwaway PostgreSQL database, Redis with prefixes
of its own, nginx on a free port with a self-signed certificate, 2 daphne workers and relays on free ports, all
under bin/prod's supervisor; stopped with SIGTERM (then SIGKILL) and every process it started checked gone."""

import json
import os
import signal
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import live


@dataclass
class Prod:
    base_url: str  # https://127.0.0.1:<port>
    port: int
    worker_ports: list[int]
    env: dict
    var: Path
    proc: subprocess.Popen

    def pids(self) -> dict[str, int]:
        """name -> pid of the supervised processes now (bin/prod's var/pids.json)."""
        try:
            return json.loads((self.var / "pids.json").read_text())
        except (OSError, ValueError):
            return {}

    def wait_restarted(self, name: str, old_pid: int, timeout: float = 30.0, since: float | None = None):
        """(new pid, seconds since `since` or now) once the supervisor has started `name` again after `old_pid`."""
        start = time.monotonic() if since is None else since
        while time.monotonic() - start < timeout:
            pid = self.pids().get(name)
            if pid and pid != old_pid:
                return pid, time.monotonic() - start
            time.sleep(0.02)
        raise TimeoutError(f"{name} was not restarted within {timeout} s")

    def relay_channels(self) -> list[str]:
        return sorted({name.split(".")[0] for name in self.pids() if name.startswith("relay-")})

    def serving_relay(self, channel: str) -> int | None:
        """The pid of the process serving a relay channel now (its lock file, confserver/deploy/relay.py)."""
        from confserver.deploy.relay import serving_pid

        pid = serving_pid(self.var / "run" / f"{channel}.lock")
        return pid if pid and _alive(pid) else None

    def wait_relay_taken_over(self, channel: str, old_pid: int, timeout: float = 30.0, since: float | None = None):
        """(pid, seconds since `since` or now) once a process other than `old_pid` holds the channel's lock."""
        start = time.monotonic() if since is None else since
        while time.monotonic() - start < timeout:
            pid = self.serving_relay(channel)
            if pid and pid != old_pid:
                return pid, time.monotonic() - start
            time.sleep(0.01)
        raise TimeoutError(f"no process took {channel} over within {timeout} s")

    def cafile(self) -> Path:
        return self.var / "tls" / "self-signed.crt"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (not reaped yet by a parent that is gone) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


@contextmanager
def production(
    tmp: Path,
    *,
    relays: int = 2,
    settings_module: str = "confserver.settings",
    demo: bool = True,
    http_origins: bool = False,
    log=None,
    **extra,
):
    """bin/prod on 127.0.0.1 (needs DATABASE_URL on PostgreSQL and REDIS_URL); yields a Prod. `http_origins`: the
    workers also accept sockets opened straight to them over http (benches comparing with the proxy)."""
    port, worker_ports = live.free_port(), [live.free_port(), live.free_port()]
    with live.throwaway_database(os.environ["DATABASE_URL"]) as db_url:
        origins = [f"https://127.0.0.1:{port}"] + (
            [f"http://127.0.0.1:{p}" for p in worker_ports] if http_origins else []
        )
        env = live.server_env(
            db_url,
            [],
            DJANGO_SETTINGS_MODULE=settings_module,
            PYTHONPATH=str(live.ROOT),
            CONFSERVER_VAR_DIR=str(tmp / "app-var"),
            WS_ALLOWED_ORIGINS=",".join(origins),
            CSRF_TRUSTED_ORIGINS=origins[0],
            ALLOWED_HOSTS="127.0.0.1,localhost",
            LOG_LEVEL="WARNING",
            **extra,
        )
        live.manage(env, "migrate", "--no-input", "-v0")  # bin/prod migrates too (nothing left) and collects static
        if demo:
            live.manage(env, "load_demo", "--structure", "2025")
        var = tmp / "prod"
        out = open(log or os.devnull, "wb")
        proc = subprocess.Popen(
            [
                str(live.ROOT / "bin" / "prod"),
                "--var",
                str(var),
                "--port",
                str(port),
                "--worker-ports",
                ",".join(map(str, worker_ports)),
                "--relays",
                str(relays),
            ],
            env=env,
            cwd=live.ROOT,
            stdout=out,
            stderr=out,
        )
        prod = Prod(f"https://127.0.0.1:{port}", port, worker_ports, env, var, proc)
        seen: set[int] = set()
        try:
            _wait_up(prod, seen)
            yield prod
        finally:
            seen |= set(prod.pids().values())
            stop(prod)
            out.close()
            left = [pid for pid in seen if _alive(pid)]
            for pid in left:  # never expected: bin/prod stops all it started; still, leave nothing behind
                os.kill(pid, signal.SIGKILL)
            assert not left, f"bin/prod left processes running: {left}"


def _wait_up(prod: Prod, seen: set, timeout: float = 240.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if prod.proc.poll() is not None:
            raise RuntimeError(f"bin/prod exited with {prod.proc.returncode}")
        seen |= set(prod.pids().values())
        if all(_listening(p) for p in [prod.port, *prod.worker_ports]):
            return
        time.sleep(0.2)
    raise TimeoutError(f"bin/prod was not up within {timeout} s")


def _listening(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def stop(prod: Prod, timeout: float = 30.0):
    if prod.proc.poll() is None:
        prod.proc.send_signal(signal.SIGTERM)
        try:
            prod.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            prod.proc.kill()
            prod.proc.wait()
