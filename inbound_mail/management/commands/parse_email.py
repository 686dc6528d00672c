"""Show how the pipeline reads a message: `manage.py parse_email FILE --json` (or - for stdin)."""

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from inbound_mail.parsing import parse_message, to_json


class Command(BaseCommand):
    help = "Parse one raw message and print the normalized result."

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE", help="a message file, or - for stdin")
        parser.add_argument("--json", action="store_true", help="print the whole result as JSON")

    def handle(self, *args, file, json: bool = False, **options):
        raw = self._read(file)
        data = to_json(parse_message(raw))
        if json:
            self.stdout.write(_dumps(data))
            return
        sender = data["from"] or {}
        self.stdout.write(f"From:    {sender.get('name', '')} <{sender.get('address', '')}>")
        self.stdout.write(f"Subject: {data['subject']}")
        self.stdout.write(f"Message-ID: {data['message_id']}")
        self.stdout.write(f"Auto-generated: {data['auto_reason'] or 'no'}")
        self.stdout.write(f"Attachments: {', '.join(a['filename'] for a in data['attachments'])}")
        self.stdout.write("")
        self.stdout.write(data["text"])

    def _read(self, name: str) -> bytes:
        if name == "-":
            return sys.stdin.buffer.read()
        path = Path(name)
        if not path.is_file():
            raise CommandError(f"{name}: no such file")
        return path.read_bytes()


def _dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)
