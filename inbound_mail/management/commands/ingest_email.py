"""Feed mail into the pipeline from files, folders, maildirs, mbox files or standard input.

As an MTA pipe (Postfix `pipe`, Exim `pipe` transport): `manage.py ingest_email -` reads one
message; exit status 0 means it is stored, 75 (EX_TEMPFAIL, sysexits.h) means "try again later",
which MTAs honour by keeping the message queued. Folders and mbox files are stored in chunks;
a chunk the database or the storage refuses is reported, not stored, and makes the exit 75
(running the command again is safe: identical bytes are one row).
"""

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from inbound_mail import mail_files
from inbound_mail.services import intake
from tenants.models import Organization

EX_TEMPFAIL = 75
# Messages are stored in chunks (one transaction and a few statements per chunk, not per
# message), bounded in bytes too so that a folder of large mail does not fill the memory.
CHUNK_MESSAGES = 200
CHUNK_BYTES = 64 * 1024 * 1024


class Command(BaseCommand):
    help = "Store mail (files, folders, maildirs, mbox files, or - for stdin) for processing."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH", help="a file, folder, or -")
        parser.add_argument(
            "--tenant",
            metavar="SLUG",
            help="the tenant for mail whose recipients match no tenant's inbound address",
        )

    def handle(self, *args, paths, tenant=None, **options):
        fallback = self._tenant(tenant) if tenant else None
        self._check_paths(paths)
        stored = unclaimed = failed = 0
        for chunk in _chunks(self._messages(paths)):
            labels = [label for label, _ in chunk]
            try:
                receipts = intake.inbound_receive_many(
                    raws=[raw for _, raw in chunk], source="command", fallback_organization=fallback
                )
            except (DatabaseError, OSError) as exc:
                # The database or the storage is unavailable: nothing of this chunk was stored.
                for label in labels:
                    self.stderr.write(f"{label}: not stored, try again later: {exc}")
                failed += len(labels)
                continue
            stored += len(receipts)
            unclaimed += sum(receipt.unclaimed_id is not None for receipt in receipts)
        self.stdout.write(
            f"stored {stored} message(s), {unclaimed} of them claimed by no tenant"
            + (f"; {failed} not stored" if failed else "")
        )
        if failed:
            raise CommandError(f"{failed} message(s) not stored", returncode=EX_TEMPFAIL)

    def _tenant(self, slug: str) -> Organization:
        try:
            return Organization.objects.get(slug=slug)
        except Organization.DoesNotExist:
            # Deferred rather than bounced: a typo in the MTA configuration must not lose mail.
            raise CommandError(f"no tenant {slug!r}", returncode=EX_TEMPFAIL) from None
        except DatabaseError as exc:
            raise CommandError(f"database unavailable: {exc}", returncode=EX_TEMPFAIL) from exc

    def _check_paths(self, paths: list[str]) -> None:
        # Before anything is stored: a typo in the list must not leave half of it ingested.
        for name in paths:
            if name != "-" and not Path(name).exists():
                raise CommandError(f"{name}: no such file or folder")

    def _messages(self, paths: list[str]) -> Iterator[tuple[str, bytes]]:
        for name in paths:
            if name == "-":
                yield "stdin", sys.stdin.buffer.read()
            else:
                yield from mail_files.messages_in(Path(name))


def _chunks(messages: Iterable[tuple[str, bytes]]) -> Iterator[list[tuple[str, bytes]]]:
    chunk: list[tuple[str, bytes]] = []
    size = 0
    for label, raw in messages:
        if chunk and (len(chunk) >= CHUNK_MESSAGES or size + len(raw) > CHUNK_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append((label, raw))
        size += len(raw)
    if chunk:
        yield chunk
