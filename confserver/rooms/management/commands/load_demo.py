from django.core.management.base import BaseCommand

from confserver.rooms.demo import load_demo


class Command(BaseCommand):
    help = "Nạp dữ liệu mẫu: Thành phố Huế (cấu trúc 2025 hoặc trước 2025), phòng họp, tài khoản và một cuộc họp."

    def add_arguments(self, parser):
        parser.add_argument("--structure", choices=["2025", "pre2025"], default="2025")

    def handle(self, structure, **opts):
        info = load_demo(structure)
        m = info["meeting"]
        self.stdout.write(
            f"Dữ liệu mẫu Huế ({structure}): cuộc họp #{m.id} “{m.title}”, {m.participations.count()} phòng được mời."
        )
