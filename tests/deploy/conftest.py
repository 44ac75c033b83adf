"""tests/deploy: the production shape (bin/prod). Chromium as in tests/e2e, also accepting the self-signed
certificate of bin/prod's nginx."""

from pathlib import Path

import pytest

from ..e2e.conftest import CHROMIUM, CHROMIUM_FLAGS, clips  # noqa: F401  (the fake cameras, a fixture)


@pytest.fixture
def launch():
    """launch(clip) -> a Chromium whose camera is that clip and which accepts any certificate; all closed at the end."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (bin/setup --tests)")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    browsers = []

    def start(clip):
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            timeout=30000,
            args=CHROMIUM_FLAGS + ["--ignore-certificate-errors", f"--use-file-for-fake-video-capture={clip.path}"],
        )
        browsers.append(b)
        return b

    yield start
    for b in browsers:
        try:
            b.close()
        except Exception:
            pass
    pw.stop()
