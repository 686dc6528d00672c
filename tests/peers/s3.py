"""A real S3 endpoint on loopback: moto's standalone server, spoken to over HTTP like MinIO.

Fixture (register with ``pytest_plugins = ["tests.peers.s3"]``): ``s3_peer``, session-scoped,
an ``S3Peer`` whose ``endpoint_url`` serves an existing, empty-at-start bucket ``bucket``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.peers import LOOPBACK


@dataclass(frozen=True)
class S3Peer:
    endpoint_url: str
    bucket: str
    region: str = "us-east-1"
    access_key: str = "test-access-key"
    secret_key: str = "test-secret-key"

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            # Virtual-host addressing would put the bucket in the hostname
            # (<bucket>.127.0.0.1), which does not resolve; MinIO setups use path style too.
            config=Config(s3={"addressing_style": "path"}),
        )

    def storage_options(self) -> dict[str, str]:
        """OPTIONS for django-storages' S3Storage pointing at this peer."""
        return {
            "endpoint_url": self.endpoint_url,
            "bucket_name": self.bucket,
            "region_name": self.region,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "addressing_style": "path",
        }


class S3Server:
    """moto.server.ThreadedMotoServer on a kernel-chosen port of 127.0.0.1."""

    def __init__(self) -> None:
        # Imported here: moto's server pulls in every service backend (~1 s) and only the
        # sessions that use S3 should pay for that.
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
        # werkzeug logs every request at INFO to stderr; failures still show (ERROR).
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    def start(self) -> str:
        self._server.start()
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.stop()


@pytest.fixture(scope="session")
def s3_peer() -> Iterator[S3Peer]:
    server = S3Server()
    peer = S3Peer(endpoint_url=server.start(), bucket="helpdesk-test")
    try:
        peer.client().create_bucket(Bucket=peer.bucket)
        yield peer
    finally:
        server.stop()
