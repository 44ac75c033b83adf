"""Where each role lands after signing in (issue 12, item 13), and who is signed in, for the pages' headers.

A host runs meetings from the console, a reviewer reads the review list, an administrator chooses between
the admin, the console and the review list. A `next` page the role may use is honoured; a console page
the role may not use sends it to its own page instead of to a refusal.
"""

from .models import Role

CONSOLE = "/web/host.html"
MEETINGS = "/web/meetings.html"  # create, schedule, invite, copy (issue 12, item 4)
REVIEW = "/web/review.html"
MINUTES = "/web/minutes.html"
RELAYS = "/web/relays.html"  # the relays and the meetings' relay trees (issue 11, item 7)
ADMIN = "/admin/"
CHOICE = "/home/"
INDEX = "/web/index.html"

# The pages behind a sign-in, and the roles that may use them (rooms/policy.py, recording/access.py).
PAGE_ROLES = {
    CONSOLE: {Role.HOST, Role.ADMIN},
    MEETINGS: {Role.HOST, Role.ADMIN},
    REVIEW: {Role.HOST, Role.REVIEWER, Role.ADMIN},
    MINUTES: {Role.HOST, Role.REVIEWER, Role.ADMIN},
    RELAYS: {Role.HOST, Role.ADMIN},
}
# Addresses that name no page of their own: "after signing in, go where you belong".
NEUTRAL = {"", "/", INDEX, CHOICE, "/accounts/profile/"}


def home_for(user) -> str:
    """The page a role starts from."""
    role = getattr(user, "role", None)
    if role == Role.HOST:
        return CONSOLE
    if role == Role.REVIEWER:
        return REVIEW
    if role == Role.ADMIN or getattr(user, "is_superuser", False):
        return CHOICE
    return INDEX  # a room terminal: its rooms enter by their links, not by a password


def may_open(user, url: str) -> bool:
    """Whether the signed-in `user` may use the page `url` names (other addresses: yes)."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    if path.startswith(ADMIN):
        return bool(user.is_active and user.is_staff)
    roles = PAGE_ROLES.get(path)
    return roles is None or getattr(user, "role", None) in roles or user.is_superuser


def landing_for(user, wanted: str) -> str:
    """Where `user` goes after signing in, asked for `wanted` (a safe `next`, or "")."""
    path = wanted.split("?", 1)[0].split("#", 1)[0]
    if path in NEUTRAL or not may_open(user, wanted):
        return home_for(user)
    return wanted


def choices_for(user) -> list[dict]:
    """The pages an administrator (or any role) may open, in the order of the choice page."""
    pages = [
        (ADMIN, "Quản trị hệ thống", "Tài khoản, đơn vị hành chính, phòng họp, cuộc họp, lệnh giữ bản ghi."),
        (CONSOLE, "Điều hành cuộc họp", "Bảng điều khiển chủ trì: chạy thử, khai mạc, cho phát biểu, điểm danh."),
        (
            MEETINGS,
            "Lịch họp",
            "Tạo và lên lịch cuộc họp, mời đơn vị theo cây, sửa danh sách mời, sao chép cuộc họp cũ.",
        ),
        (REVIEW, "Xem lại cuộc họp", "Bản ghi hình các cuộc họp đã kết thúc, mục lục, điểm danh, biên bản."),
        (RELAYS, "Máy chủ truyền hình", "Máy chủ nào phục vụ phòng nào, tải của từng máy, chuyển phòng khi máy hỏng."),
    ]
    return [{"url": url, "title": title, "text": text} for url, title, text in pages if may_open(user, url)]


def who(user) -> dict:
    """Who is signed in, as the pages' headers show it."""
    role = getattr(user, "role", "")
    return {
        "username": user.get_username(),
        "name": user.get_full_name().strip() or user.get_username(),
        "role": role,
        "role_label": Role(role).label if role in Role.values else "",
        "unit_name": user.unit.name if getattr(user, "unit_id", None) else "",
        "home": home_for(user),
        "pages": [c["url"] for c in choices_for(user)],
    }
