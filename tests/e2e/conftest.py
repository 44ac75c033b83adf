"""Browser tests: a real daphne server with its own database, and real headless Chromium.

The server runs in a subprocess on a free loopback port, migrated and loaded
with the demo province (Huế, 2025 structure). Its database is a throwaway
PostgreSQL database when DATABASE_URL points at PostgreSQL, else a temp
SQLite file; its live-state and channel prefixes are unique, so it shares
Redis with nothing.
"""

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from confserver.testing import live

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
# docs: /work/shared/WEBRTC-TESTING.md. Autoplay without a click: the console plays the floor's audio.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
HOST_USER, HOST_PASSWORD = "chutri-hue", "demo12345"


@dataclass
class Server:
    base_url: str
    log: Path


@pytest.fixture(scope="module")
def e2e_server(tmp_path_factory):
    """A real confserver (daphne, ASGI, WebSocket, media relay) on 127.0.0.1:<free port>."""
    tmp = tmp_path_factory.mktemp("e2e-server")
    ARTIFACTS.mkdir(exist_ok=True)
    port = live.free_port()
    origin = f"http://127.0.0.1:{port}"
    log = ARTIFACTS / "e2e-server.log"
    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        env = live.server_env(
            db_url,
            [port],
            DJANGO_SETTINGS_MODULE="tests.e2e.settings",
            PYTHONPATH=str(ROOT),
            CONFSERVER_VAR_DIR=str(tmp / "var"),
            MEDIA_QUALITY_PERIOD_S="1",
            # Tight, so that a browser that did not acknowledge its notifications would be cut off (4008).
            SIGNALING_MAX_BACKLOG="4",
            CSRF_TRUSTED_ORIGINS=origin,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            LOG_LEVEL="WARNING",
        )
        live.manage(env, "migrate", "--no-input", "-v0")
        live.manage(env, "load_demo", "--structure", "2025")
        with live.daphne(env, port, log):
            yield Server(base_url=origin, log=log)


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
        subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                f"color=c={colour}:s=640x360:r=15:d=2",
                "-vf",
                text,
                "-pix_fmt",
                "yuv420p",
                str(path),
            ],
            check=True,
            timeout=60,
        )
        out[name] = Clip(path, rgb)
    return out


class Chromiums:
    """Debian's Chromium under Playwright (sync API): `launch(clip)` starts one whose fake camera is that clip (or
    the default test pattern), `close()` closes every one started and Playwright. Skips the test where Chromium is
    not installed."""

    def __init__(self):
        if not Path(CHROMIUM).exists():
            pytest.skip("Debian's chromium is not installed (bin/setup --tests)")
        from playwright.sync_api import sync_playwright

        self.pw = sync_playwright().start()
        self.browsers: list = []

    def launch(self, clip: "Clip | None" = None):
        camera = [f"--use-file-for-fake-video-capture={clip.path}"] if clip is not None else []
        browser = self.pw.chromium.launch(executable_path=CHROMIUM, timeout=30000, args=CHROMIUM_FLAGS + camera)
        self.browsers.append(browser)
        return browser

    def close(self) -> None:
        for browser in self.browsers:
            try:
                browser.close()
            except Exception:
                pass
        self.pw.stop()


@pytest.fixture
def launch():
    """launch(clip) -> a Chromium whose camera is that clip; all are closed at the end."""
    chromiums = Chromiums()
    yield chromiums.launch
    chromiums.close()


@pytest.fixture
def browser():
    """One Chromium for the test (no camera clip of its own)."""
    chromiums = Chromiums()
    yield chromiums.launch()
    chromiums.close()


def open_console(host, base: str) -> int:
    """The chair's operator logs in, opens the demo meeting from the list and waits for the socket; its id."""
    import re

    host.goto(f"{base}/web/host.html")
    host.wait_for_url(re.compile(r"/login/"))
    host.fill("#id_username", HOST_USER)
    host.fill("#id_password", HOST_PASSWORD)
    host.click("input[type=submit]")
    host.wait_for_url(re.compile(r"/web/host\.html$"))
    host.click("#meeting-rows a.btn")
    host.wait_for_url(re.compile(r"meeting=\d+"))
    host.wait_for_selector("#conn-badge.ok")
    return int(re.search(r"meeting=(\d+)", host.url).group(1))
