"""Self-made certificates, pyHanko signing and encryption, for tests of uploads and signature reports."""

import datetime as dt
import io
from dataclasses import dataclass

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Identity:
    ca_pem: bytes
    cert_der: bytes
    key_der: bytes  # PKCS#8
    ca_der: bytes


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "UBND tỉnh Thừa Thiên Huế"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def make_identity(signer_cn: str = "Nguyễn Văn An", ca_cn: str = "CA thử nghiệm confserver") -> Identity:
    """A CA and one signer certificate it issued (ECDSA P-256, valid ±1 year)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name(ca_cn))
        .issuer_name(_name(ca_cn))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(signer_cn))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return Identity(
        ca_pem=ca.public_bytes(serialization.Encoding.PEM),
        ca_der=ca.public_bytes(serialization.Encoding.DER),
        cert_der=cert.public_bytes(serialization.Encoding.DER),
        key_der=key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


def sign_pdf(pdf: bytes, ident: Identity, *, field: str = "ChuKy1", reason: str = "Phê duyệt") -> bytes:
    """`pdf` with one approval signature by `ident` appended as an incremental update."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    signer = signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(ident.cert_der),
        signing_key=asn1_keys.PrivateKeyInfo.load(ident.key_der),
        cert_registry=SimpleCertificateStore.from_certs([asn1_x509.Certificate.load(ident.ca_der)]),
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    out = signers.sign_pdf(writer, signers.PdfSignatureMetadata(field_name=field, reason=reason), signer=signer)
    return out.getvalue()


def encrypt(pdf: bytes, user_password: str = "mat-khau") -> bytes:
    """`pdf` protected by a password needed to open it."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.pdf_utils.writer import copy_into_new_writer

    writer = copy_into_new_writer(PdfFileReader(io.BytesIO(pdf)))
    writer.encrypt("chu-tri", user_password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def tamper(pdf: bytes) -> bytes:
    """Change one byte inside the signed range (the producer string), keeping the file parseable."""
    from .pdfgen import PRODUCER

    needle = PRODUCER.encode()
    at = pdf.index(needle)
    return pdf[:at] + needle.upper() + pdf[at + len(needle) :]
