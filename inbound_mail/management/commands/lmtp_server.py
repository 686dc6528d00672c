"""Run the LMTP door (`inbound_mail.lmtp`) until SIGINT or SIGTERM.

    manage.py lmtp_server [--host 127.0.0.1] [--port 8024] [--threads 4]

The defaults are LMTP_HOST and LMTP_PORT. LMTP has no authentication: whoever reaches the port
can deliver mail, so it listens on the loopback interface unless told otherwise (a container's
MTA on a private network).
"""

import asyncio
import logging

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from inbound_mail import lmtp


class Command(BaseCommand):
    help = "Accept mail over LMTP (RFC 2033) from the MTA and store it for processing."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.LMTP_HOST)
        parser.add_argument("--port", type=int, default=settings.LMTP_PORT)
        parser.add_argument(
            "--threads",
            type=int,
            default=lmtp.THREADS,
            help="messages stored at the same time (one database connection each)",
        )

    def handle(self, *args, host: str, port: int, threads: int, **options):
        if threads < 1:
            raise CommandError("--threads must be at least 1")
        # aiosmtpd logs every command of every session at INFO; our own line per message says
        # what was stored.
        logging.getLogger("mail.log").setLevel(logging.WARNING)

        def ready(address: str, bound_port: int) -> None:
            self.stdout.write(f"LMTP server listening on {address}:{bound_port}")
            self.stdout.flush()

        try:
            asyncio.run(lmtp.serve(host=host, port=port, threads=threads, ready=ready))
        except OSError as exc:  # the port is taken, the address is not this host's
            raise CommandError(f"cannot listen on {host}:{port}: {exc}") from exc
        self.stdout.write("LMTP server stopped.")
