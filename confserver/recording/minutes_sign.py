"""Signing the final minutes' PDF with the agency's certificate, with pyHanko (issue 10, item 11).

MINUTES_SIGNING_P12 is the path of a PKCS#12 file (.p12/.pfx: the signing key, its certificate and the
chain), MINUTES_SIGNING_PASSWORD its password; when the path is empty the minutes are issued unsigned.
Only PDFs we generated ourselves (minutes_pdf.py) are signed here, so pyHanko runs in the server process;
uploaded, possibly hostile PDFs are read by pyHanko only in the agenda's sandbox (agenda/signatures.py).
"""

import io
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import pkcs12 as asn1_pkcs12
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from django.conf import settings

from confserver.errors import DomainError

log = logging.getLogger(__name__)

FIELD = "ChuKyBienBan"
MAX_P12_BYTES = 1024 * 1024  # a key and a few certificates are a few KB; refuse to read anything huge


@dataclass(frozen=True)
class Identity:
    signer: object  # pyhanko.sign.signers.SimpleSigner
    subject: str  # the certificate's common name (or its whole subject), shown on the page and in the PDF


def configured() -> bool:
    return bool(getattr(settings, "MINUTES_SIGNING_P12", ""))


def _certificate_error(detail: str) -> DomainError:
    return DomainError(
        "minutes_signing_certificate",
        f"Không dùng được chứng thư số ký biên bản (MINUTES_SIGNING_P12): {detail} "
        "Biên bản chưa được hoàn thành; báo quản trị hệ thống.",
        status=500,
    )


def load() -> Identity:
    """The configured signing identity; a coded error (nothing signed) when it cannot be used."""
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    path = Path(settings.MINUTES_SIGNING_P12)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_P12_BYTES + 1)
    except OSError as exc:
        log.error("minutes signing: cannot read %s: %s", path, exc)
        raise _certificate_error("không đọc được tệp.") from None
    if len(data) > MAX_P12_BYTES:
        raise _certificate_error("tệp quá lớn, không phải chứng thư số.")
    password = settings.MINUTES_SIGNING_PASSWORD
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password.encode() if password else None)
    except (ValueError, TypeError) as exc:
        # cryptography says "Invalid password or PKCS12 data" for both: a file whose outer structure parses
        # as PKCS#12 failed on its password.
        try:
            asn1_pkcs12.Pfx.load(data)["auth_safe"]["content_type"].native  # noqa: B018 (parses or raises)
        except Exception:
            log.error("minutes signing: %s is not PKCS#12: %s", path, exc)
            raise _certificate_error("tệp không phải PKCS#12 (.p12/.pfx).") from None
        log.error("minutes signing: wrong password for %s", path)
        raise DomainError(
            "minutes_signing_password",
            "Mật khẩu chứng thư số ký biên bản (MINUTES_SIGNING_PASSWORD) không đúng. "
            "Biên bản chưa được hoàn thành; báo quản trị hệ thống.",
            status=500,
        ) from None
    if key is None or cert is None:
        raise _certificate_error("tệp không chứa khóa ký và chứng thư của nó.")
    now = datetime.now(UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise _certificate_error(
            f"chứng thư chỉ có hiệu lực từ {cert.not_valid_before_utc:%d/%m/%Y} "
            f"đến {cert.not_valid_after_utc:%d/%m/%Y}."
        )
    asn1_cert = _asn1(cert)
    signer = signers.SimpleSigner(
        signing_cert=asn1_cert,
        signing_key=asn1_keys.PrivateKeyInfo.load(
            key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        ),
        cert_registry=SimpleCertificateStore.from_certs([_asn1(c) for c in extra or []]),
    )
    subject = asn1_cert.subject.native.get("common_name") or asn1_cert.subject.human_friendly
    return Identity(signer=signer, subject=str(subject)[:300])


def _asn1(cert) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def sign(pdf: bytes, identity: Identity, *, reason: str, location: str) -> bytes:
    """`pdf` with one invisible approval signature appended as an incremental update (the whole file is covered)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    meta = signers.PdfSignatureMetadata(field_name=FIELD, reason=reason[:500], location=location[:300])
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    return signers.sign_pdf(writer, meta, signer=identity.signer).getvalue()
