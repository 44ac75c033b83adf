"""bin/prod's parts without the whole shape: the supervisor with real child processes, the refusal without
PostgreSQL/Redis, the rendered nginx config checked by nginx itself (`nginx -t`)."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from confserver.deploy import nginx, prod, supervise

ROOT = Path(__file__).resolve().parents[2]


def test_restart_delay_backs_off_and_is_capped():
    assert [supervise.restart_delay(n) for n in range(7)] == [0, 1, 2, 4, 8, 16, 30]
    assert supervise.restart_delay(50) == supervise.MAX_DELAY_S


def run_for(sup, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sup.step()
        time.sleep(supervise.POLL_S)


def test_a_killed_child_is_back_at_once_and_stop_leaves_none(tmp_path, monkeypatch):
    monkeypatch.setattr(supervise, "STABLE_S", 0.5)  # a run this long counts as healthy
    child = supervise.Child("sleeper", ["sleep", "60"])
    sup = supervise.Supervisor([child], pids_file=tmp_path / "pids.json")
    sup.start_all()
    try:
        run_for(sup, 1.0)
        first = child.proc.pid
        os.kill(first, signal.SIGKILL)
        killed = time.monotonic()
        while child.proc is None or child.proc.pid == first:
            sup.step()
            time.sleep(0.01)
            assert time.monotonic() - killed < 5, "not restarted"
        print(f"restarted {time.monotonic() - killed:.3f} s after SIGKILL")
        assert child.history[-1][0] == -signal.SIGKILL and child.restarts == 1
        assert f'"sleeper": {child.proc.pid}' in (tmp_path / "pids.json").read_text()
    finally:
        sup.stop_all()
    assert child.proc.poll() is not None and not (tmp_path / "pids.json").exists()


def test_a_crash_looping_child_is_restarted_with_back_off():
    child = supervise.Child("crasher", [sys.executable, "-c", "import sys; sys.exit(3)"])
    sup = supervise.Supervisor([child])
    starts = []
    original = child.start

    def start(cwd=None):
        starts.append(time.monotonic())
        return original(cwd)

    child.start = start
    sup.start_all()
    try:
        run_for(sup, 5.0)
    finally:
        sup.stop_all()
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert len(starts) >= 3 and all(code == 3 for code, _ in child.history)
    assert gaps[0] >= 0.9 and gaps[1] >= 1.9, gaps  # 1 s, then 2 s: not a tight loop
    assert len(starts) <= 4, gaps


def test_bin_prod_refuses_without_postgresql_and_redis():
    assert "DATABASE_URL" in prod.refuse_without_services({"REDIS_URL": "redis://x/0"})
    assert "DATABASE_URL" in prod.refuse_without_services({"DATABASE_URL": "sqlite:///x", "REDIS_URL": "redis://x"})
    message = prod.refuse_without_services({"DATABASE_URL": "postgres://u@h/db"})
    assert "Cần REDIS_URL" in message and "REDIS_URL is not set" in message
    assert prod.refuse_without_services({"DATABASE_URL": "postgres://u@h/db", "REDIS_URL": "redis://h/0"}) is None
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    out = subprocess.run(
        [sys.executable, "-m", "confserver.deploy.prod"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2 and "Cần DATABASE_URL" in out.stderr, out.stderr


@pytest.mark.skipif(
    not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()) or not shutil.which("openssl"),
    reason="nginx and openssl (bin/setup --tests)",
)
def test_rendered_config_passes_nginx_check(tmp_path, settings):
    cert, key = nginx.self_signed(tmp_path / "tls", ["127.0.0.1", "localhost"])
    site = nginx.Site(
        listen="127.0.0.1:18443",
        server_name="127.0.0.1",
        public_host="127.0.0.1:18443",
        workers=["127.0.0.1:18101", "127.0.0.1:18102"],
        tls_cert=cert,
        tls_key=key,
        web_root=ROOT / "web",
        static_root=tmp_path / "static",
        recordings_root=tmp_path / "rec",
        upload_max_bytes=50 * 1024 * 1024 + 1024 * 1024,
    )
    conf = nginx.write_config(tmp_path / "nginx", site)
    nginx.check(tmp_path / "nginx", conf)  # raises with nginx's complaint
    text = (tmp_path / "nginx" / "site.conf").read_text()
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in text and "proxy_add_x_forwarded_for" not in text
    assert "client_max_body_size 51m;" in text and "server 127.0.0.1:18102" in text
    assert "camera=(self)" in text and "camera=()" in text  # the room page and console only
    with pytest.raises(KeyError):
        nginx.render("{{ nope }}", {})
