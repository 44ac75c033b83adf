"""Browser tests: a real daphne server with its own database, and real headless Chromium.

The server runs in a subprocess on a free loopback port, migrated and loaded
with the demo province (Huế, 2025 structure). Its database is a throwaway
PostgreSQL database when DATABASE_URL points at PostgreSQL, else a temp
SQLite file; its live-state and channel prefixes are unique, so it shares
Redis with nothing.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
# docs: /work/shared/WEBRTC-TESTING.md. Autoplay without a click: the console plays the floor's audio.
CHROMIUM_FLAGS = [
    "--no-sandbox", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--disable-gpu",
    "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
HOST_USER, HOST_PASSWORD = "chutri-hue", "demo12345"


@dataclass
class Server:
    base_url: str
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daphne exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"daphne did not listen on {port} within {timeout} s")


class _Database:
    """A database of the test's own: created before, dropped after."""

    def __init__(self, tmp: Path):
        self.admin = None
        base = os.environ.get("DATABASE_URL", "")
        if base.startswith(("postgres://", "postgresql://", "pgsql://")):
            u = urlparse(base)
            self.name = f"confserver_e2e_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            self.admin = urlunparse(u._replace(scheme="postgresql", path="/postgres"))
            self.url = urlunparse(u._replace(path=f"/{self.name}"))
        else:
            self.url = f"sqlite:///{tmp / 'e2e.sqlite3'}"

    def create(self):
        if self.admin:
            import psycopg

            with psycopg.connect(self.admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.name}"')

    def drop(self):
        if self.admin:
            import psycopg

            with psycopg.connect(self.admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def e2e_server(tmp_path_factory):
    """A real confserver (daphne, ASGI, WebSocket, media relay) on 127.0.0.1:<free port>."""
    tmp = tmp_path_factory.mktemp("e2e-server")
    ARTIFACTS.mkdir(exist_ok=True)
    port = _free_port()
    origin = f"http://127.0.0.1:{port}"
    db = _Database(tmp)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.e2e.settings",
        PYTHONPATH=str(ROOT),
        DATABASE_URL=db.url,
        CONFSERVER_VAR_DIR=str(tmp / "var"),
        LIVE_PREFIX=f"e2e-{uuid.uuid4().hex[:10]}",
        CHANNEL_PREFIX=f"e2e-{uuid.uuid4().hex[:10]}",
        MEDIA_ICE_HOSTS="127.0.0.1",
        MEDIA_QUALITY_PERIOD_S="1",
        WS_ALLOWED_ORIGINS=origin,
        CSRF_TRUSTED_ORIGINS=origin,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
    )
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    py = sys.executable
    log = ARTIFACTS / "e2e-server.log"
    db.create()
    proc = None
    try:
        for cmd in (["migrate", "--no-input", "-v0"], ["load_demo", "--structure", "2025"]):
            subprocess.run([py, "manage.py", *cmd], cwd=ROOT, env=env, check=True, timeout=120,
                           stdout=subprocess.DEVNULL)
        daphne = Path(py).with_name("daphne")
        with log.open("wb") as out:
            proc = subprocess.Popen([str(daphne), "-b", "127.0.0.1", "-p", str(port), "confserver.asgi:application"],
                                    cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_port(port, proc, 30)
        yield Server(base_url=origin, log=log)
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        db.drop()


@dataclass(frozen=True)
class Clip:
    path: Path
    rgb: tuple[int, int, int]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """One fake camera per participant: a solid colour with its name on it, 640x360, 15 fps, looped."""
    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is not installed (bin/setup --tests)")
    tmp = tmp_path_factory.mktemp("clips")
    specs = {"chair": ((31, 79, 191), "CHU TRI"), "a": ((31, 160, 64), "PHONG A"), "b": ((192, 48, 32), "PHONG B")}
    out = {}
    for name, (rgb, label) in specs.items():
        path = tmp / f"{name}.y4m"
        colour = "0x%02x%02x%02x" % rgb
        text = f"drawtext=text='{label}':fontcolor=white:fontsize=36:x=(w-text_w)/2:y=(h-text_h)/2"
        font = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
        if font.exists():
            text += f":fontfile={font}"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"color=c={colour}:s=640x360:r=15:d=2",
                        "-vf", text, "-pix_fmt", "yuv420p", str(path)], check=True, timeout=60)
        out[name] = Clip(path, rgb)
    return out


@pytest.fixture
def launch():
    """launch(clip) -> a Chromium whose camera is that clip; all are closed at the end."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (bin/setup --tests)")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    browsers = []

    def start(clip: Clip):
        b = pw.chromium.launch(executable_path=CHROMIUM, timeout=30000,
                               args=CHROMIUM_FLAGS + [f"--use-file-for-fake-video-capture={clip.path}"])
        browsers.append(b)
        return b

    yield start
    for b in browsers:
        try:
            b.close()
        except Exception:
            pass
    pw.stop()
