"""bin/prod: the production shape on one machine (issue 13, item 1).

nginx terminating TLS (a self-signed certificate into var/prod/tls/ unless TLS_CERT/TLS_KEY are given) in front
of N daphne workers on 127.0.0.1 (--proxy-headers), serving web/, static files and recordings (X-Accel-Redirect);
M `manage.py run_relay` processes; PostgreSQL and Redis from DATABASE_URL / REDIS_URL; PRODUCTION=1. Everything
runs under confserver/deploy/supervise.py: a crashed process comes back, Ctrl-C / SIGTERM stops them all.
"""

import argparse
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

from . import nginx
from .supervise import Child, Supervisor

ROOT = nginx.ROOT
PYTHON = sys.executable

NEEDS = (
    "Cần {name} ({what}): bin/prod chạy với {kind} thật, ví dụ {example}.\n"
    "{name} is not set: bin/prod runs on a real {kind}, e.g. {name}={example}"
)


def parse(argv=None):
    p = argparse.ArgumentParser(
        prog="bin/prod",
        description="confserver: nginx (TLS) + N daphne + M relay, supervised, on one machine. Dừng: Ctrl+C.",
    )
    p.add_argument("--workers", type=int, default=int(os.environ.get("PROD_WORKERS", 2)), help="daphne workers (2)")
    p.add_argument(
        "--relays",
        type=int,
        default=int(os.environ.get("PROD_RELAYS", os.cpu_count() or 1)),
        help="relay processes (one per core)",
    )
    p.add_argument("--bind", default=os.environ.get("PROD_BIND", "127.0.0.1"), help="address nginx listens on")
    p.add_argument("--port", type=int, default=int(os.environ.get("PROD_PORT", 8443)), help="nginx's https port")
    p.add_argument(
        "--name",
        default=os.environ.get("PROD_NAME", ""),
        help="public host name (default: --bind, or the host name when binding 0.0.0.0)",
    )
    p.add_argument(
        "--worker-ports",
        default=os.environ.get("PROD_WORKER_PORTS", ""),
        help="comma-separated 127.0.0.1 ports of the workers (default 8001, 8002, …)",
    )
    p.add_argument(
        "--upstream",
        default="",
        help="--print-site: the workers as host:port,… when they are not this machine's --worker-ports",
    )
    p.add_argument(
        "--var",
        type=Path,
        default=Path(os.environ.get("PROD_VAR", ROOT / "var" / "prod")),
        help="nginx prefix, certificate, logs, pids (var/prod)",
    )
    p.add_argument(
        "--relay-standby",
        type=int,
        choices=(0, 1),
        default=int(os.environ.get("PROD_RELAY_STANDBY", 1)),
        help="1 (default): a second, loaded process a relay channel takes over at once when the first dies",
    )
    p.add_argument("--skip-migrate", action="store_true", help="do not run migrate and collectstatic first")
    p.add_argument(
        "--print-site",
        action="store_true",
        help="print the nginx site for a real host (README) and exit; workers from --worker-ports",
    )
    args = p.parse_args(argv)
    args.worker_ports = [int(x) for x in args.worker_ports.split(",") if x] or [8001 + i for i in range(args.workers)]
    args.workers = len(args.worker_ports)
    if not args.name:
        args.name = socket.gethostname() if args.bind in ("0.0.0.0", "::") else args.bind
    return args


def refuse_without_services(environ) -> str | None:
    """The message to stop with when DATABASE_URL / REDIS_URL do not name PostgreSQL and Redis; else None."""
    db, redis = environ.get("DATABASE_URL", ""), environ.get("REDIS_URL", "")
    if not db.startswith(("postgres://", "postgresql://")):
        return NEEDS.format(
            name="DATABASE_URL",
            what="PostgreSQL",
            kind="PostgreSQL",
            example="postgres://confserver@127.0.0.1:5432/confserver",
        )
    if not redis.startswith(("redis://", "rediss://", "unix://")):
        return NEEDS.format(name="REDIS_URL", what="Redis", kind="Redis", example="redis://127.0.0.1:6379/0")
    return None


def public_host(args) -> str:
    return args.name if args.port == 443 else f"{args.name}:{args.port}"


def child_env(args) -> dict:
    """The environment of every process: the caller's, with the production shape's settings."""
    env = dict(os.environ)
    origin = f"https://{public_host(args)}"
    env.setdefault("PRODUCTION", "1")
    env.setdefault("DJANGO_SETTINGS_MODULE", "confserver.settings")
    env.setdefault("WS_ALLOWED_ORIGINS", origin)
    env.setdefault("ALLOWED_HOSTS", ",".join(dict.fromkeys([args.name, "127.0.0.1", "localhost"])))
    env.setdefault("RECORDINGS_ACCEL_PREFIX", "/_recordings")
    env["MEDIA_RELAY_CHANNELS"] = ",".join(relay_channels(args))
    if not env.get("SECRET_KEY"):
        from confserver import secretkey

        args.var.mkdir(parents=True, exist_ok=True)
        env["SECRET_KEY"] = secretkey.embedded_key(args.var)  # one key for every process, kept in var/prod
    return env


def relay_channels(args) -> list[str]:
    return [f"relay-{i}" for i in range(args.relays)]


def site(args, settings) -> nginx.Site:
    given = os.environ.get("TLS_CERT"), os.environ.get("TLS_KEY")
    if given[0] and given[1]:
        cert, key = Path(given[0]), Path(given[1])
    else:
        cert, key = nginx.self_signed(args.var / "tls", list(dict.fromkeys([args.name, "localhost", "127.0.0.1"])))
    listen = f"{args.bind}:{args.port}" if args.bind not in ("0.0.0.0", "") else str(args.port)
    workers = args.upstream.split(",") if args.upstream else [f"127.0.0.1:{p}" for p in args.worker_ports]
    return nginx.Site(
        listen=listen,
        server_name=args.name,
        public_host=public_host(args),
        workers=workers,
        tls_cert=cert,
        tls_key=key,
        web_root=settings.BASE_DIR / "web",
        static_root=Path(settings.STATIC_ROOT),
        recordings_root=Path(settings.RECORDINGS_ROOT),
        upload_max_bytes=settings.AGENDA_MAX_UPLOAD_BYTES + 1024 * 1024,
    )


def children(args, env, conf: Path) -> list[Child]:
    logs = args.var / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    daphne = str(Path(PYTHON).parent / "daphne")
    out = [Child("nginx", nginx.command(args.var / "nginx", conf), env, logs / "nginx.log")]
    for i, port in enumerate(args.worker_ports):
        out.append(
            Child(
                f"daphne-{i + 1}",
                [
                    daphne,
                    "-b",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "--proxy-headers",
                    "-v",
                    "0",
                    "confserver.asgi:application",
                ],
                env,
                logs / f"daphne-{i + 1}.log",
            )
        )
    cores = os.cpu_count() or 1
    (args.var / "run").mkdir(parents=True, exist_ok=True)
    for i, channel in enumerate(relay_channels(args)):
        # Two processes a channel (confserver/deploy/relay.py): one serves, the other waits on the lock, loaded.
        for n in range(1, 3 if args.relay_standby else 2):
            out.append(
                Child(
                    f"{channel}.{n}",
                    [
                        PYTHON,
                        "-m",
                        "confserver.deploy.relay",
                        "--channel",
                        channel,
                        "--lock",
                        str(relay_lock(args, channel)),
                        "--cpu",
                        str(i % cores),
                    ],
                    env,
                    logs / f"{channel}.{n}.log",
                )
            )
    return out


def relay_lock(args, channel: str) -> Path:
    return args.var / "run" / f"{channel}.lock"


def listening(port: int, host: str = "127.0.0.1") -> bool:
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def banner(args) -> str:
    base = f"https://{public_host(args)}"
    return (
        f"\nconfserver (production shape) đang chạy tại {base}/\n"
        f"  nginx (TLS) → {args.workers} daphne (127.0.0.1:{','.join(map(str, args.worker_ports))}), "
        f"{args.relays} relay (x{1 + args.relay_standby});\n"
        f"  nhật ký: {args.var / 'logs'}/, pid: {args.var / 'pids.json'}\n"
        f"  Bảng điều khiển chủ trì: {base}/web/host.html\n"
        "Dừng: Ctrl+C\n"
    )


def main(argv=None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s prod: %(message)s", stream=sys.stderr)
    problem = refuse_without_services(os.environ)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    env = child_env(args)
    os.environ.update(env)
    import django
    from django.core.exceptions import ImproperlyConfigured

    try:
        django.setup()
    except ImproperlyConfigured as exc:
        print(f"Cấu hình sai (configuration error): {exc}", file=sys.stderr)
        return 2
    from django.conf import settings

    if args.print_site:
        print(nginx.site_config(site(args, settings)))
        return 0
    if not args.skip_migrate:
        for cmd in (["migrate", "--no-input", "-v0"], ["collectstatic", "--no-input", "-v0"]):
            subprocess.run([PYTHON, str(ROOT / "manage.py"), *cmd], env=env, cwd=ROOT, check=True)
    prefix = args.var / "nginx"
    conf = nginx.write_config(prefix, site(args, settings))
    nginx.check(prefix, conf)
    sup = Supervisor(children(args, env, conf), pids_file=args.var / "pids.json", cwd=ROOT)
    sup.start_all()
    front = "127.0.0.1" if args.bind in ("0.0.0.0", "::", "") else args.bind
    announced = False

    def tick():
        nonlocal announced
        if not announced and listening(args.port, front) and all(map(listening, args.worker_ports)):
            announced = True
            print(banner(args), flush=True)

    sup.run(on_tick=tick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
