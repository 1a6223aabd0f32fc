"""A real S3-compatible server for export files: moto's server behind :class:`S3Front`.

Providers hand out pre-signed links to objects here (Mailgun, PackageX, Batch) or write
into a customer's bucket here (Connect); the tap reads them with plain HTTP or boto3
against :attr:`Storage.endpoint_url`, exactly as it would against AWS.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import boto3
from botocore.config import Config
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

from tap_exports_sandbox.clock import SandboxClock
from tap_exports_sandbox.faults import FaultPlan
from tap_exports_sandbox.httpd import LocalHttpServer
from tap_exports_sandbox.moto_objects import write_object
from tap_exports_sandbox.s3_front import CredentialLeak, IssuedLink, S3Front

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

REGION = "us-east-1"
ACCESS_KEY_ID = "sandbox-access-key"
SECRET_ACCESS_KEY = "sandbox-secret-key"  # noqa: S105 - a fixed credential of a local test server
STORAGE_PROVIDER = "storage"


class Storage:
    """The sandbox's S3 server, its buckets, and the links it hands out.

    moto keeps its state per process, so bucket names get a per-instance suffix and
    two sandboxes in one process never see each other's objects.
    """

    def __init__(self, clock: SandboxClock, faults: FaultPlan, *, port: int = 0) -> None:
        self._clock = clock
        self._suffix = secrets.token_hex(4)
        self._lock = threading.Lock()
        self._owners: dict[str, str] = {}
        self._client: S3Client | None = None
        self._front = S3Front(
            DomainDispatcherApplication(create_backend_app), clock, faults, self.provider_of
        )
        self._server = LocalHttpServer(
            self._front, port=port, handler=MotoRequestHandler, name="sandbox-s3"
        )

    @property
    def endpoint_url(self) -> str:
        """Where S3 clients point (``http://127.0.0.1:<port>``, path-style addressing)."""
        return self._server.url

    @property
    def credentials(self) -> dict[str, str]:
        """boto3 client keyword arguments for this server."""
        return {
            "endpoint_url": self.endpoint_url,
            "aws_access_key_id": ACCESS_KEY_ID,
            "aws_secret_access_key": SECRET_ACCESS_KEY,
            "region_name": REGION,
        }

    @property
    def credential_leaks(self) -> list[CredentialLeak]:
        """Requests that sent an ``Authorization`` header to a pre-signed link."""
        return self._front.credential_leaks

    def start(self) -> None:
        """Start serving."""
        self._server.start()

    def stop(self) -> None:
        """Delete the sandbox's buckets and stop serving."""
        if self._server.running:
            self.clear(delete_buckets=True)
        self._server.stop()

    def client(self, **overrides: Any) -> S3Client:
        """A boto3 S3 client for this server (``overrides``: e.g. other credentials)."""
        if not overrides and self._client is not None:
            return self._client
        client = boto3.session.Session().client(
            "s3",
            **{**self.credentials, **overrides},
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )
        if not overrides:
            self._client = client
        return client

    def create_bucket(self, name: str, *, provider: str = STORAGE_PROVIDER) -> str:
        """Create a bucket owned by ``provider`` (for its faults); returns its real name."""
        bucket = f"{name}-{self._suffix}"
        self.client().create_bucket(Bucket=bucket)
        with self._lock:
            self._owners[bucket] = provider
        return bucket

    def provider_of(self, bucket: str) -> str:
        """Whose faults apply to reads from ``bucket``."""
        with self._lock:
            return self._owners.get(bucket, STORAGE_PROVIDER)

    def put_stream(
        self,
        bucket: str,
        key: str,
        chunks: Iterable[bytes],
        content_type: str = "application/octet-stream",
    ) -> int:
        """Store an object written chunk by chunk, never held whole; returns its size."""
        return write_object(bucket, key, chunks, content_type)

    def presign(self, bucket: str, key: str, ttl_seconds: int) -> str:
        """A real pre-signed GET link, valid for ``ttl_seconds`` of sandbox time."""
        url = self.client().generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=ttl_seconds
        )
        expires_at = self._clock.now() + dt.timedelta(seconds=ttl_seconds)
        self._front.issue(_signature(url), IssuedLink(bucket, key, ttl_seconds, expires_at))
        return url

    def expire(self, url: str) -> None:
        """Let a link issued by :meth:`presign` die now."""
        self._front.expire(_signature(url))

    def clear(self, *, delete_buckets: bool = False) -> None:
        """Delete every object in the sandbox's buckets; forget links and leaks."""
        client = self.client()
        with self._lock:
            buckets = list(self._owners)
            if delete_buckets:
                self._owners.clear()
        for bucket in buckets:
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for item in page.get("Contents", []):
                    client.delete_object(Bucket=bucket, Key=item["Key"])
            if delete_buckets:
                client.delete_bucket(Bucket=bucket)
        self._front.forget()


def _signature(url: str) -> str:
    return parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]
