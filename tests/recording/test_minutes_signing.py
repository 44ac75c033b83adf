"""Finalised minutes (issue 10, item 11): the recording's last segment hash fixed in the text and the metadata,
the PDF signed with a configured PKCS#12 certificate (checked with pyHanko's validator), unsigned without one,
and a certificate that cannot be used refuses finalising with a coded error and changes nothing.
Real database, real pyHanko, a throwaway CA and signer made here."""

import datetime as dt
import hashlib
import io
import shutil
import xml.etree.ElementTree as ET

import pypdfium2
import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from django.utils import timezone
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from confserver.agenda.testing.signing import make_identity
from confserver.recording import minutes_pdf
from confserver.recording.models import Minutes, MinutesState, Segment, SegmentState

from .test_minutes import client_for, held, users  # noqa: F401  (fixtures)

SIGNER_CN = "UBND tỉnh Thừa Thiên Huế - Văn phòng"
PASSWORD = "mật-khẩu-ký-số"


@pytest.fixture
def identity():
    return make_identity(signer_cn=SIGNER_CN)


def p12_file(path, ident, password=PASSWORD):
    """A PKCS#12 file with the signer's key, its certificate and the CA, as an agency would be issued."""
    key = serialization.load_der_private_key(ident.key_der, None)
    cert = x509.load_der_x509_certificate(ident.cert_der)
    ca = x509.load_der_x509_certificate(ident.ca_der)
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"bien-ban", key, cert, [ca], serialization.BestAvailableEncryption(password.encode())
        )
    )
    return path


@pytest.fixture
def signing(settings, tmp_path, identity):
    settings.MINUTES_SIGNING_P12 = str(p12_file(tmp_path / "ky-so.p12", identity))
    settings.MINUTES_SIGNING_PASSWORD = PASSWORD
    return identity


@pytest.fixture
def unsigned(settings):
    settings.MINUTES_SIGNING_P12 = ""
    settings.MINUTES_SIGNING_PASSWORD = ""


def record(meeting, n, *, last_state=SegmentState.CLOSED) -> list[str]:
    """n chained segment rows (their hashes as the writer would chain them); the files do not matter here."""
    hashes_, prev = [], ""
    start = timezone.now() - dt.timedelta(minutes=5 * n)
    for i in range(n):
        digest = hashlib.sha256(f"{meeting.id}/{i}/{prev}".encode()).hexdigest()
        state = last_state if i == n - 1 else SegmentState.CLOSED
        Segment.objects.create(
            meeting=meeting,
            index=i,
            started_at=start + dt.timedelta(minutes=5 * i),
            ended_at=start + dt.timedelta(minutes=5 * i + 5),
            path=f"{meeting.id}/{i:05d}.webm",
            bytes=1000,
            sha256="" if state == SegmentState.WRITING else digest,
            previous_sha256=prev,
            state=state,
        )
        hashes_.append(digest)
        prev = digest
    return hashes_


def number_and_conclusions(c, meeting_id):
    r = c.put(
        f"/api/minutes/meetings/{meeting_id}",
        {"number": "15/BB-UBND", "conclusions": "Giao Sở Tài chính tổng hợp, báo cáo trước ngày 20."},
        content_type="application/json",
    )
    assert r.status_code == 200, r.content
    return r.json()


def text_of(pdf: bytes) -> str:
    doc = pypdfium2.PdfDocument(io.BytesIO(pdf))
    return "\n".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))


def metadata(pdf: bytes) -> dict:
    """Info's Subject and Keywords, and our XMP fields by their local names."""
    r = PdfFileReader(io.BytesIO(pdf))
    info = r.trailer["/Info"]
    xmp = ET.fromstring(r.root["/Metadata"].data)
    fields = {}
    for node in xmp.iter():
        for name, value in [(node.tag, node.text), *node.attrib.items()]:
            if name.startswith("{" + minutes_pdf.XMP_NS + "}"):
                fields[name.split("}")[1]] = value
    return {"subject": str(info.get("/Subject", "")), "keywords": str(info.get("/Keywords", "")), "xmp": fields}


def test_finalised_minutes_are_signed_and_carry_the_last_segment_hash(held, users, signing):
    m = held[0]
    chain = record(m, 3)
    host = client_for(users["host"])
    url = f"/api/minutes/meetings/{m.id}"
    draft = host.get(url).json()
    assert draft["signing_configured"] is True and draft["signed"] is False
    assert draft["recording"] == {"segments": 3, "last_sha256": chain[-1], "unfinished": False, "fixed": False}
    number_and_conclusions(host, m.id)

    r = host.post(url + "/finalize")
    assert r.status_code == 200, r.content
    out = r.json()
    assert out["state"] == "final" and out["signed"] is True and out["signer"] == SIGNER_CN
    assert out["recording"] == {"segments": 3, "last_sha256": chain[-1], "unfinished": False, "fixed": True}
    assert out["can_edit"] is False and out["finalized_at"]
    row = Minutes.objects.get(meeting=m)
    assert (row.segment_count, row.last_segment_sha256, row.signer) == (3, chain[-1], SIGNER_CN)

    pdf = client_for(users["reviewer"]).get(url + "/pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    data = pdf.content
    assert data == bytes(row.pdf)  # the issued file, not a new rendering

    # pyHanko's validator: one signature, by our certificate, intact, covering the whole file, trusted via the CA.
    reader = PdfFileReader(io.BytesIO(data))
    assert len(reader.embedded_signatures) == 1
    sig = reader.embedded_signatures[0]
    assert sig.signer_cert.subject.native["common_name"] == SIGNER_CN
    status = validate_pdf_signature(
        sig, ValidationContext(trust_roots=[asn1_x509.Certificate.load(signing.ca_der)], allow_fetching=False)
    )
    assert status.intact and status.valid and status.trusted
    assert status.coverage.name == "ENTIRE_FILE" and status.modification_level.name == "NONE"

    text = text_of(data)
    assert "Mã băm đoạn ghi hình cuối:" in text and chain[-1] in text and "3 đoạn" in text
    assert "Giao Sở Tài chính tổng hợp" in text and "(Dự thảo)" not in text
    meta = metadata(data)
    assert chain[-1] in meta["subject"]
    assert (
        f"recording-last-segment-sha256={chain[-1]}" in meta["keywords"] and "recording-segments=3" in meta["keywords"]
    )
    assert meta["xmp"]["RecordingLastSegmentSHA256"] == chain[-1] and meta["xmp"]["RecordingSegments"] == "3"
    assert meta["xmp"]["MinutesNumber"] == "15/BB-UBND"

    # The seal is what was recorded at finalising: a segment added later changes nothing in the minutes.
    Segment.objects.create(
        meeting=m,
        index=3,
        started_at=timezone.now(),
        path="x.webm",
        sha256="f" * 64,
        previous_sha256=chain[-1],
        state=SegmentState.CLOSED,
    )
    again = client_for(users["reviewer"])
    assert again.get(url).json()["recording"]["last_sha256"] == chain[-1]
    assert again.get(url + "/pdf").content == data

    # The check can fail: one changed byte inside the signed range is caught.
    at = data.index(b"/Producer")
    tampered = data[:at] + b"/Producer".replace(b"P", b"Q") + data[at + len(b"/Producer") :]
    bad = PdfFileReader(io.BytesIO(tampered), strict=False).embedded_signatures[0]
    assert not validate_pdf_signature(bad, ValidationContext(allow_fetching=False)).intact


def test_unsigned_without_a_certificate_still_carries_the_hash(held, users, unsigned):
    m = held[0]
    chain = record(m, 2)
    host = client_for(users["host"])
    url = f"/api/minutes/meetings/{m.id}"
    assert host.get(url).json()["signing_configured"] is False
    number_and_conclusions(host, m.id)
    out = host.post(url + "/finalize").json()
    assert out["state"] == "final" and out["signed"] is False and out["signer"] == ""
    data = host.get(url + "/pdf").content
    assert PdfFileReader(io.BytesIO(data)).embedded_signatures == []
    assert chain[-1] in text_of(data)
    assert metadata(data)["xmp"]["RecordingLastSegmentSHA256"] == chain[-1]


def test_a_meeting_without_recording_says_so(held, users, unsigned):
    m = held[0]
    host = client_for(users["host"])
    number_and_conclusions(host, m.id)
    out = host.post(f"/api/minutes/meetings/{m.id}/finalize").json()
    assert out["recording"] == {"segments": 0, "last_sha256": "", "unfinished": False, "fixed": True}
    data = host.get(f"/api/minutes/meetings/{m.id}/pdf").content
    assert "Cuộc họp không có bản ghi hình." in text_of(data)
    assert "recording-segments=0" in metadata(data)["keywords"]


def expired_identity(path):
    """A self-signed certificate that expired yesterday, in a PKCS#12 file."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Hết hạn")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now - dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"x", key, cert, None, serialization.BestAvailableEncryption(PASSWORD.encode())
        )
    )
    return path


@pytest.mark.parametrize(
    "case, code",
    [
        ("wrong_password", "minutes_signing_password"),
        ("missing_file", "minutes_signing_certificate"),
        ("not_pkcs12", "minutes_signing_certificate"),
        ("expired", "minutes_signing_certificate"),
    ],
)
def test_an_unusable_certificate_refuses_and_finalises_nothing(held, users, settings, tmp_path, identity, case, code):
    m = held[0]
    record(m, 1)
    path = p12_file(tmp_path / "ky-so.p12", identity)
    settings.MINUTES_SIGNING_PASSWORD = PASSWORD
    if case == "wrong_password":
        settings.MINUTES_SIGNING_PASSWORD = "sai-mật-khẩu"
    elif case == "missing_file":
        path.unlink()
    elif case == "not_pkcs12":
        path.write_bytes("-----BEGIN CERTIFICATE-----\nkhông phải chứng thư\n".encode())
    elif case == "expired":
        expired_identity(path)
    settings.MINUTES_SIGNING_P12 = str(path)
    host = client_for(users["host"])
    url = f"/api/minutes/meetings/{m.id}"
    number_and_conclusions(host, m.id)
    before = Minutes.objects.get(meeting=m)

    r = host.post(url + "/finalize")
    assert r.status_code == 500 and r.json()["code"] == code, r.content
    assert "chưa được hoàn thành" in r.json()["message"]
    row = Minutes.objects.get(meeting=m)
    assert row.state == MinutesState.DRAFT and row.finalized_at is None and row.pdf is None and row.signer == ""
    assert row.segment_count == 0 and row.updated_at == before.updated_at
    # Still editable; once the certificate is fixed, finalising works.
    assert host.put(url, {"conclusions": "Sửa tiếp."}, content_type="application/json").status_code == 200
    settings.MINUTES_SIGNING_P12 = str(p12_file(tmp_path / "dung.p12", identity))
    settings.MINUTES_SIGNING_PASSWORD = PASSWORD
    assert host.post(url + "/finalize").json()["signed"] is True


def test_an_unfinished_recording_cannot_be_sealed(held, users, unsigned):
    m = held[0]
    record(m, 2, last_state=SegmentState.WRITING)
    host = client_for(users["host"])
    url = f"/api/minutes/meetings/{m.id}"
    number_and_conclusions(host, m.id)
    assert host.get(url).json()["recording"] == {"segments": 2, "last_sha256": "", "unfinished": True, "fixed": False}
    r = host.post(url + "/finalize")
    assert r.status_code == 409 and r.json()["code"] == "recording_unfinished"
    assert Minutes.objects.get(meeting=m).state == MinutesState.DRAFT
    Segment.objects.filter(meeting=m, index=1).update(state=SegmentState.RECOVERED, sha256="e" * 64)
    assert host.post(url + "/finalize").json()["recording"]["last_sha256"] == "e" * 64


def test_pdf_with_only_fonts_dejavu_core(held, users, settings, tmp_path):
    """Debian's fonts-dejavu-core has no DejaVu Serif italic (that is fonts-dejavu-extra): the PDF still renders."""
    for name in ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSansMono.ttf"):
        shutil.copy(minutes_pdf.FONT_DIR / name, tmp_path / name)
    settings.MINUTES_FONT_DIR = str(tmp_path)
    r = client_for(users["host"]).get(f"/api/minutes/meetings/{held[0].id}/pdf")
    assert r.status_code == 200, r.content
    assert "(Dự thảo)" in text_of(r.content)
