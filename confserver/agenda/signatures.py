"""Digital signatures in an uploaded PDF: who signed, when, and whether the signed
bytes are intact (pyHanko). Trust in the signer's CA is a separate answer, and
"unknown" unless AGENDA_TRUST_ROOTS (paths of PEM/DER CA certificates) is set.

pyHanko parses hostile files: check() runs only inside a sandboxed PDF worker (pdfworker.py, the
"signatures" job; sandbox.signatures() from the server). No Django here.
"""

import logging
from pathlib import Path

log = logging.getLogger(__name__)
# pyHanko logs a warning with a traceback for every certificate path it cannot
# build, i.e. for every signature when no trust roots are configured. The report
# carries that answer ("trust"), so keep only its errors.
logging.getLogger("pyhanko.sign.validation.generic_cms").setLevel(logging.ERROR)


def _trust_roots(paths) -> list:
    from asn1crypto import pem, x509

    roots = []
    for p in paths or []:
        data = Path(p).read_bytes()
        if pem.detect(data):
            roots += [x509.Certificate.load(der) for _, _, der in pem.unarmor(data, multiple=True)]
        else:
            roots.append(x509.Certificate.load(data))
    return roots


def _cn(cert) -> str:
    try:
        return cert.subject.native.get("common_name") or cert.subject.human_friendly
    except Exception:  # a malformed subject should not sink the whole report
        return ""


def check(path: Path, trust_roots=()) -> dict:
    """The signature report of a PDF: {"signed", "status", "signatures": [...]}; `trust_roots` are
    the paths of AGENDA_TRUST_ROOTS.

    status: "unsigned", "intact" (every signature covers untouched bytes),
    "broken" (at least one does not) or "error" (the file could not be analysed).
    """
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    roots = _trust_roots(trust_roots)
    try:
        with open(path, "rb") as f:
            reader = PdfFileReader(f, strict=False)
            embedded = list(reader.embedded_signatures)
            sigs = [_one(sig, roots, validate_pdf_signature, ValidationContext) for sig in embedded]
    except Exception as exc:  # pyHanko rejects some files PDFium reads; report, do not refuse the upload
        log.warning("signature check failed for %s: %s", path.name, exc)
        return {"signed": False, "status": "error", "error": str(exc)[:300], "signatures": []}
    if not sigs:
        return {"signed": False, "status": "unsigned", "signatures": []}
    status = "intact" if all(s["intact"] for s in sigs) else "broken"
    return {"signed": True, "status": status, "signatures": sigs}


def _one(sig, roots, validate, ValidationContext) -> dict:
    out = {
        "field": sig.field_name,
        "signer_cn": None,
        "signer_subject": None,
        "signing_time": None,
        "intact": False,
        "valid": False,
        "coverage": None,
        "modification_level": None,
        "trust": "unknown",
        "error": None,
    }
    try:
        cert = sig.signer_cert
        out["signer_cn"] = _cn(cert)
        out["signer_subject"] = cert.subject.human_friendly
    except Exception as exc:
        out["error"] = f"no signer certificate: {exc}"[:300]
        return out
    try:
        ctx = ValidationContext(trust_roots=roots, allow_fetching=False)
        st = validate(sig, ctx)
    except Exception as exc:
        out["error"] = str(exc)[:300]
        return out
    when = st.signer_reported_dt or sig.self_reported_timestamp
    out.update(
        signing_time=when.isoformat() if when else None,
        intact=bool(st.intact),
        valid=bool(st.valid),
        coverage=st.coverage.name.lower() if st.coverage else None,
        modification_level=st.modification_level.name.lower() if st.modification_level else None,
        trust=("trusted" if st.trusted else "untrusted") if roots else "unknown",
    )
    return out
