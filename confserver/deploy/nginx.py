"""nginx in front of the daphne workers (issue 13, item 1): the config rendered from deploy/*.template and a
self-signed TLS certificate for when none is given. Plain functions: bin/prod and the tests call them."""

import os
import pwd
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
TEMPLATES = ROOT / "deploy"
_NAME = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


def render(template: str, values: dict) -> str:
    """`{{ name }}` replaced by values[name]; a name without a value is an error, not an empty string."""
    missing = sorted({m for m in _NAME.findall(template) if m not in values})
    if missing:
        raise KeyError(f"no value for {', '.join(missing)}")
    return _NAME.sub(lambda m: str(values[m.group(1)]), template)


@dataclass
class Site:
    """What the site's config needs: where the workers listen, where the files are, the public name."""

    listen: str  # nginx `listen` argument, e.g. "127.0.0.1:8443" or "443"
    server_name: str  # e.g. "hop.hue.gov.vn" or "127.0.0.1"
    public_host: str  # host[:port] as browsers write it (for the pages' CSP)
    workers: list[str]  # "127.0.0.1:8101", "unix:/run/confserver/daphne-1.sock"
    tls_cert: Path
    tls_key: Path
    web_root: Path
    static_root: Path
    recordings_root: Path
    upload_max_bytes: int


def _headers(csp: str, permissions: str, hsts: str, indent: str = "        ") -> str:
    """The headers the application puts on its own responses, for the files nginx serves itself."""
    lines = [
        f'add_header Content-Security-Policy "{csp}" always;',
        f'add_header Permissions-Policy "{permissions}" always;',
        'add_header X-Content-Type-Options "nosniff" always;',
        'add_header Referrer-Policy "same-origin" always;',
        'add_header Cross-Origin-Opener-Policy "same-origin" always;',
        'add_header X-Frame-Options "DENY" always;',
        'add_header Cache-Control "no-cache";',
    ]
    if hsts:
        lines.append(f'add_header Strict-Transport-Security "{hsts}" always;')
    return "\n".join(indent + line for line in lines)


def site_config(site: Site) -> str:
    """deploy/nginx-site.conf.template for `site` (needs Django's settings: the CSP and HSTS of the pages)."""
    from django.conf import settings

    from confserver.security import headers

    csp = headers.content_security_policy(site.public_host)
    hsts = ""
    if settings.SECURE_HSTS_SECONDS:  # as Django's SecurityMiddleware writes it
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        hsts += "; includeSubDomains" if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS else ""
        hsts += "; preload" if settings.SECURE_HSTS_PRELOAD else ""
    upload_mb = -(-site.upload_max_bytes // (1024 * 1024))
    values = {
        "listen": site.listen,
        "server_name": site.server_name,
        "tls_cert": site.tls_cert,
        "tls_key": site.tls_key,
        "upstream_servers": "\n".join(f"    server {w} max_fails=1 fail_timeout=2s;" for w in site.workers),
        "web_root": site.web_root,
        "static_root": site.static_root,
        "recordings_root": site.recordings_root,
        "upload_max": f"{upload_mb}m",
        "page_headers": _headers(csp, headers.permissions_policy("/web/index.html"), hsts),
        "page_headers_media": _headers(csp, headers.permissions_policy("/web/room.html"), hsts),
    }
    return render((TEMPLATES / "nginx-site.conf.template").read_text(), values)


def write_config(prefix: Path, site: Site, worker_processes: int = 1) -> Path:
    """nginx.conf and site.conf under `prefix` (with its logs/ and tmp/); the path of nginx.conf."""
    for sub in ("logs", "tmp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    # As root (a container, CI) nginx would hand its workers to `nobody`, who cannot read a private var/ or the
    # recordings: they keep this account. Run bin/prod as an unprivileged account on a real machine.
    user_line = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    main = render(
        (TEMPLATES / "nginx.conf.template").read_text(),
        {"prefix": prefix, "user_line": user_line, "worker_processes": worker_processes},
    )
    (prefix / "site.conf").write_text(site_config(site))
    conf = prefix / "nginx.conf"
    conf.write_text(main)
    return conf


def command(prefix: Path, conf: Path) -> list[str]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    return [binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "logs" / "error.log")]


def check(prefix: Path, conf: Path) -> None:
    """`nginx -t` on the rendered config: its complaint raised as an error."""
    out = subprocess.run([*command(prefix, conf), "-t", "-q"], capture_output=True, text=True, timeout=30)
    if out.returncode:
        raise RuntimeError(f"nginx -t: {out.stderr.strip()}")


def self_signed(directory: Path, names: list[str]) -> tuple[Path, Path]:
    """A self-signed certificate (EC P-256, 825 days) for `names` (host names or IP addresses), made once into
    `directory`; (cert, key). Browsers will warn: give a real one with TLS_CERT / TLS_KEY."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "self-signed.crt", directory / "self-signed.key"
    if cert.exists() and key.exists():
        return cert, key
    alt = ",".join(("IP:" if re.fullmatch(r"[0-9.]+|[0-9a-fA-F:]+:[0-9a-fA-F:]*", n) else "DNS:") + n for n in names)
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-nodes",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-days",
            "825",
            "-subj",
            f"/CN={names[0]}",
            "-addext",
            f"subjectAltName={alt}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    key.chmod(0o600)
    return cert, key
