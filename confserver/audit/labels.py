"""Vietnamese names of the audit log's action codes and roles, for the admin (codes stay in the CSV)."""

from confserver.accounts.models import Role

ACTIONS = {
    "auth.sign_in": "Đăng nhập",
    "auth.sign_in_failed": "Đăng nhập không thành công",
    "auth.sign_out": "Đăng xuất",
    "auth.otp_enrolled": "Đăng ký xác thực hai lớp",
    "auth.otp_passed": "Xác thực hai lớp thành công",
    "auth.otp_failed": "Mã xác thực hai lớp sai",
    "auth.otp_backup_used": "Dùng mã dự phòng",
    "auth.otp_reset": "Đặt lại xác thực hai lớp",
    "account.create": "Tạo tài khoản",
    "account.change": "Sửa tài khoản",
    "account.role_change": "Đổi vai trò, quyền quản trị",
    "account.delete": "Xoá tài khoản",
    "account.groups": "Đổi nhóm của tài khoản",
    "account.permissions": "Đổi quyền",
    "group.create": "Tạo nhóm",
    "group.change": "Sửa nhóm",
    "group.delete": "Xoá nhóm",
    "recording.view": "Xem bản ghi",
    "recording.download": "Tải bản ghi về",
    "recording.minutes": "Tải biên bản (PDF)",
    "audit.export": "Xuất nhật ký kiểm toán",
}


def action_label(code: str) -> str:
    if code in ACTIONS:
        return ACTIONS[code]
    if code.startswith("meeting."):
        from confserver.rooms.models import TimelineKind

        kind = code.removeprefix("meeting.")
        label = dict(TimelineKind.choices).get(kind, kind)
        return f"Cuộc họp: {label}"
    return code


def role_label(code: str) -> str:
    return dict(Role.choices).get(code, code or "—")
