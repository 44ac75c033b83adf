import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from confserver.signaling.protocol import schemas


def rendered() -> dict[str, str]:
    return {
        f"protocol-{side}.schema.json": json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        for side, schema in schemas().items()
    }


class Command(BaseCommand):
    help = "Ghi JSON Schema của giao thức WebSocket vào docs/ (--check: chỉ kiểm tra bản trong docs/ còn đúng)."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true")

    def handle(self, check, **opts):
        docs = settings.BASE_DIR / "docs"
        stale = []
        for name, text in rendered().items():
            path = docs / name
            if check:
                if not path.exists() or path.read_text(encoding="utf-8") != text:
                    stale.append(name)
            else:
                path.write_text(text, encoding="utf-8")
                self.stdout.write(f"wrote docs/{name}")
        if stale:
            raise CommandError(f"docs/ is stale: {', '.join(stale)}; run manage.py protocol_schema")
