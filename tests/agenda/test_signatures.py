"""Signature report of uploaded PDFs: unsigned, signed (who, when, intact, coverage),
tampered, and trust reported apart from integrity."""

from datetime import UTC, datetime, timedelta

import pytest

from confserver.agenda.testing import signing

from .conftest import make_pdf


@pytest.fixture(scope="module")
def ident():
    return signing.make_identity(signer_cn="Nguyễn Văn An")


@pytest.fixture(scope="module")
def signed_pdf(ident):
    return signing.sign_pdf(make_pdf(3, seed=21), ident)


def test_unsigned(world):
    v = world.upload(make_pdf(2))
    assert v.signature_status == "unsigned"
    assert v.signatures == {"signed": False, "status": "unsigned", "signatures": []}


def test_signed_reports_signer_time_and_integrity(world, signed_pdf):
    v = world.upload(signed_pdf)
    assert v.signature_status == "intact" and v.page_count == 3
    [s] = v.signatures["signatures"]
    assert s["signer_cn"] == "Nguyễn Văn An" and "UBND tỉnh Thừa Thiên Huế" in s["signer_subject"]
    assert s["intact"] and s["valid"] and s["coverage"] == "entire_file"
    assert s["trust"] == "unknown"  # no trust roots configured
    when = datetime.fromisoformat(s["signing_time"])
    assert abs(when - datetime.now(UTC)) < timedelta(hours=1)


def test_tampered_copy_is_not_intact(world, signed_pdf):
    v = world.upload(signing.tamper(signed_pdf))
    assert v.signature_status == "broken"
    [s] = v.signatures["signatures"]
    assert s["signer_cn"] == "Nguyễn Văn An" and not s["intact"]


def test_trust_is_reported_separately(world, signed_pdf, ident, settings, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_bytes(ident.ca_pem)
    settings.AGENDA_TRUST_ROOTS = [str(ca)]
    [s] = world.upload(signed_pdf).signatures["signatures"]
    assert s["intact"] and s["trust"] == "trusted"
    stranger = tmp_path / "other.pem"
    stranger.write_bytes(signing.make_identity().ca_pem)
    settings.AGENDA_TRUST_ROOTS = [str(stranger)]
    [s] = world.upload(signed_pdf, meeting=world.other_meeting).signatures["signatures"]
    assert s["intact"] and s["trust"] == "untrusted"


def test_signature_report_over_http(world, signed_pdf, client):
    v = world.upload(signed_pdf)
    client.force_login(world.users["host"])
    r = client.get(f"/api/agenda/versions/{v.id}/signatures")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["signed"] and body["status"] == "intact" and body["signatures"][0]["signer_cn"] == "Nguyễn Văn An"
    client.force_login(world.users["hanoi_reviewer"])
    assert client.get(f"/api/agenda/versions/{v.id}/signatures").json()["code"] == "not_visible"


def test_pyhanko_reads_uploads_only_in_the_sandbox(world, signed_pdf, monkeypatch, tmp_path, settings):
    """pyHanko parses hostile files: in a sandboxed PDF worker under its limits, never in the server."""
    from confserver.agenda import sandbox, signatures

    def in_the_server(*a, **k):
        raise AssertionError("pyHanko ran in the server process")

    monkeypatch.setattr(signatures, "check", in_the_server)
    v = world.upload(signed_pdf)
    assert v.signature_status == "intact" and v.signatures["signatures"][0]["signer_cn"] == "Nguyễn Văn An"
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed_pdf)
    settings.AGENDA_PDF_MEMORY_MB = 48  # a worker that cannot load pyHanko: reported, the upload not refused
    assert sandbox.signatures(path) == {
        "signed": False,
        "status": "error",
        "error": "pdf_too_complex",
        "signatures": [],
    }
