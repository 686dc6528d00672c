"""Feed mail into the pipeline from files, folders, maildirs, mbox files or standard input.

As an MTA pipe (Postfix `pipe`, Exim `pipe` transport): `manage.py ingest_email -` reads one
message; exit status 0 means it is stored, 75 (EX_TEMPFAIL, sysexits.h) means "try again later",
which MTAs honour by keeping the message queued.
"""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from inbound_mail import mail_files, services
from tenants.models import Organization

EX_TEMPFAIL = 75


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
        stored = unclaimed = failed = 0
        for label, raw in self._messages(paths):
            try:
                receipt = services.inbound_receive(
                    raw=raw, source="command", fallback_organization=fallback
                )
            except (DatabaseError, OSError) as exc:
                # The database or the storage is unavailable: nothing was stored for this one.
                self.stderr.write(f"{label}: not stored, try again later: {exc}")
                failed += 1
                continue
            stored += 1
            unclaimed += receipt.unclaimed_id is not None
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

    def _messages(self, paths):
        for name in paths:
            if name == "-":
                yield "stdin", sys.stdin.buffer.read()
                continue
            path = Path(name)
            if not path.exists():
                raise CommandError(f"{name}: no such file or folder")
            yield from mail_files.messages_in(path)
