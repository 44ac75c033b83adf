from django.core.management.base import BaseCommand, CommandError

from confserver.rooms.importer import UnitFileError, ensure_default_rooms, import_file


class Command(BaseCommand):
    help = "Nhập danh sách đơn vị hành chính từ tệp JSON Lines (xem confserver/rooms/data/README.md)."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--rooms", action="store_true", help="tạo một phòng họp cho mỗi đơn vị chưa có phòng")

    def handle(self, path, rooms, **opts):
        try:
            result = import_file(path)
        except (UnitFileError, OSError) as exc:
            raise CommandError(f"{path}: {exc}") from None
        made = ensure_default_rooms() if rooms else 0
        self.stdout.write(
            f"{path}: {result.created} đơn vị mới, {result.updated} cập nhật, {result.unchanged} không đổi"
            + (f"; {made} phòng họp mới" if rooms else "")
        )
