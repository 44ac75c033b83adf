"""Document uploads on their way in (issue 9, findings 3 and 13): a request that is anonymous or
declares a body over the limit is refused before Django parses it, and the file part is written
straight to the agenda's spool (hashed as it comes, cut at the limit, removed on a full disk),
never held in memory. Installed as the last middleware (settings.MIDDLEWARE)."""

import re

from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import JsonResponse

from confserver.edge.limits import UPLOAD_MARGIN_BYTES, UPLOAD_PATH_PATTERN

from . import documents, storage

# Both endpoints of confserver/agenda/api.py that take a PDF, as the edge matches them.
UPLOAD_PATH = re.compile(UPLOAD_PATH_PATTERN)
# Multipart framing and the small form fields (title, item) on top of the file itself.
MARGIN_BYTES = UPLOAD_MARGIN_BYTES


class SpooledUpload(UploadedFile):
    """The uploaded PDF, already in the spool (`spooled`), or the reason it is not (`error`)."""

    def __init__(self, name, content_type, spooled: storage.Spooled | None, error=None):
        super().__init__(None, name, content_type, spooled.size if spooled else 0)
        self.spooled = spooled
        self.upload_error = error

    def close(self):
        pass  # the spool is the middleware's to remove once the request is over


class SpoolHandler(FileUploadHandler):
    """Django upload handler writing the "file" part to a storage.SpoolWriter."""

    chunk_size = 256 * 1024

    def __init__(self, request=None):
        super().__init__(request)
        self.writer: storage.SpoolWriter | None = None
        self.error = None
        self.writers: list[storage.SpoolWriter] = []

    def new_file(self, field_name, *args, **kwargs):
        super().new_file(field_name, *args, **kwargs)
        if field_name != "file" or self.writers:
            raise SkipFile()  # one PDF per request
        try:
            self.writer = storage.SpoolWriter(documents.max_upload_bytes())
            self.writers.append(self.writer)
        except storage.StorageFull:
            self.error = documents.storage_full()

    def receive_data_chunk(self, raw_data, start):
        if self.writer is not None and self.error is None:
            try:
                self.writer.write(raw_data)
            except storage.TooLarge:
                self.error = documents.too_large(documents.max_upload_bytes())
            except storage.StorageFull:
                self.error = documents.storage_full()
        return None  # the rest of a refused file is read and dropped, not stored

    def file_complete(self, file_size):
        spooled = None
        if self.error is None and self.writer is not None:
            try:
                spooled = self.writer.finish()
            except storage.StorageFull:
                self.error = documents.storage_full()
        return SpooledUpload(self.file_name, self.content_type, spooled, self.error)

    def cleanup(self):
        """Remove what a request left in the spool (a placed upload has moved away already)."""
        for writer in self.writers:
            writer.discard()


def refusal(request) -> JsonResponse | None:
    """401 for a caller without a session, 413 for a declared body over the limit."""
    if not request.user.is_authenticated:
        return JsonResponse({"code": "unauthenticated", "message": "Cần đăng nhập để tải tài liệu lên."}, status=401)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    limit = documents.max_upload_bytes()
    if declared > limit + MARGIN_BYTES:
        err = documents.too_large(limit)
        return JsonResponse({"code": err.code, "message": err.message}, status=err.status)
    return None


class UploadGuard:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method != "POST" or not UPLOAD_PATH.fullmatch(request.path_info):
            return self.get_response(request)
        refused = refusal(request)
        if refused is not None:
            return refused
        handler = SpoolHandler(request)
        request.upload_handlers = [handler]
        try:
            return self.get_response(request)
        finally:
            handler.cleanup()
