"""Serving /static/ and /web/ in the server itself (SERVE_STATIC): a path that leaves the
directory (`..%2f..`) or cannot name a file (NUL) is 404, not 500 (issue 9, finding 13)."""

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SuspiciousFileOperation
from django.http import Http404
from django.views import static

NOT_A_FILE = "Không có tệp này."


class StaticFiles(ASGIStaticFilesHandler):
    def serve(self, request):
        if "\x00" in request.path:
            raise Http404(NOT_A_FILE)
        try:
            return super().serve(request)
        except (SuspiciousFileOperation, ValueError, OSError):
            raise Http404(NOT_A_FILE) from None


def serve(request, path, document_root):
    """django.views.static.serve, with a path outside `document_root` or holding NUL answered 404."""
    if "\x00" in path:
        raise Http404(NOT_A_FILE)
    try:
        return static.serve(request, path, document_root=document_root)
    except (SuspiciousFileOperation, ValueError):
        raise Http404(NOT_A_FILE) from None
