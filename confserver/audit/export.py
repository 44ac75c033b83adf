"""The audit log as CSV: the admin's action and GET /api/audit/export?from=YYYY-MM-DD&to=YYYY-MM-DD (administrators)."""

import csv
import datetime as dt
import json

from django.http import JsonResponse, StreamingHttpResponse
from django.utils import timezone

from confserver.accounts.models import Role

from .models import AuditEvent

HEADER = [
    "thoi_diem",
    "ma_tai_khoan",
    "tai_khoan",
    "vai_tro",
    "hanh_dong",
    "loai_doi_tuong",
    "ma_doi_tuong",
    "doi_tuong",
    "cuoc_hop",
    "dia_chi_ip",
    "trinh_duyet",
    "chi_tiet",
]


class _Echo:
    def write(self, value):
        return value


def _rows(queryset):
    out = csv.writer(_Echo())
    yield "\ufeff" + out.writerow(HEADER)  # a BOM, so spreadsheet programs read the Vietnamese as UTF-8
    for e in queryset.iterator(chunk_size=2000):
        yield out.writerow(
            [
                e.at.isoformat(),
                e.user_id or "",
                e.username,
                e.role,
                e.action,
                e.object_type,
                e.object_id,
                e.object_repr,
                e.meeting_id or "",
                e.ip or "",
                e.user_agent,
                json.dumps(e.data, ensure_ascii=False, sort_keys=True),
            ]
        )


def csv_response(queryset, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_rows(queryset), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _error(status, code, message):
    return JsonResponse({"code": code, "message": message}, status=status)


def _day(raw: str | None, default: dt.date) -> dt.date | None:
    if not raw:
        return default
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        return None


def export_view(request):
    """GET /api/audit/export: the events of the days from..to (local dates, both included; default today)."""
    user = request.user
    if not user.is_authenticated:
        return _error(401, "unauthenticated", "Bạn cần đăng nhập.")
    if not (user.is_superuser or getattr(user, "role", None) == Role.ADMIN):
        return _error(403, "audit_forbidden", "Chỉ quản trị viên được xuất nhật ký kiểm toán.")
    today = timezone.localdate()
    start, end = _day(request.GET.get("from"), today), _day(request.GET.get("to"), today)
    if start is None or end is None:
        return _error(400, "bad_date", "Ngày phải có dạng NNNN-TT-NN, ví dụ 2026-01-31.")
    if start > end:
        return _error(400, "bad_date_range", "Ngày bắt đầu lọc phải trước hoặc bằng ngày kết thúc lọc.")
    tz = timezone.get_current_timezone()
    lo = dt.datetime.combine(start, dt.time.min, tzinfo=tz)
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    rows = AuditEvent.objects.filter(at__gte=lo, at__lt=hi).order_by("at", "id")
    from . import record

    record("audit.export", date_from=start.isoformat(), date_to=end.isoformat())
    return csv_response(rows, f"nhat-ky-kiem-toan-{start}-{end}.csv")
