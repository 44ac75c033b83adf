"""Checks on every request before its view: no NUL in the path or query, and ids in the path
that a 64-bit database column can hold (issue 9, finding 13). Bodies are the schemas' job
(confserver/fields.py); nothing here reads one."""

from django.http import HttpResponse, JsonResponse

from confserver.fields import ID_MAX

# Path parameter → (code, message) of the lookup that would not have found it.
NOT_FOUND = {
    "meeting_id": ("meeting_not_found", "Không có cuộc họp số {}."),
    "item_id": ("item_not_found", "Không có nội dung họp số {}."),
    "document_id": ("document_not_found", "Không có tài liệu số {}."),
    "version_id": ("version_not_found", "Không có phiên bản tài liệu số {}."),
    "room_id": ("room_not_invited", "Phòng này không được mời vào cuộc họp."),
    "page": ("bad_page", "Tài liệu không có trang {}."),
}
NUL_MESSAGE = "Đường dẫn hoặc tham số chứa ký tự NUL (\\x00), không được phép."


def refuse(request, status: int, code: str, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"code": code, "message": message}, status=status)
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def out_of_range(raw) -> bool:
    """True for a decimal id outside 1 … 2**63-1 (the path converters only check it is digits)."""
    s = str(raw)
    return s.isascii() and s.isdigit() and (len(s) > 19 or not 1 <= int(s) <= ID_MAX)


class RequestGuards:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "\x00" in query or "%00" in query:
            return refuse(request, 400, "invalid_field", NUL_MESSAGE)
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        for name, value in view_kwargs.items():
            if name in NOT_FOUND and out_of_range(value):
                code, message = NOT_FOUND[name]
                return refuse(request, 404, code, message.format(str(value)[:24]))
        return None
