"""Blobs as objects in an S3 bucket (AWS or an S3-compatible service), under a key prefix."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import boto3
import botocore.config
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError, NoCredentialsError

from teamgate.errors import ConfigError
from teamgate.storage.blobs.base import (
    BlobInfo,
    ChunkIterator,
    HashingWriter,
    StoredBlob,
    StreamingBlobStore,
    not_found,
    validate_key,
    validate_prefix,
)

SPOOL_MAX_BYTES = 8 << 20  # beyond this a pending blob spools to disk
PART_BYTES = 8 << 20
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


class S3BlobStore(StreamingBlobStore):
    """Blobs as objects `<prefix>/<key>` in `bucket`; an object appears whole or not at all.

    With `endpoint_url` or `region` None, boto3 resolves them as usual (`AWS_ENDPOINT_URL_S3`,
    `AWS_ENDPOINT_URL`, `AWS_REGION`, profiles); credentials always come from boto3's chain.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            validate_key(self.prefix)
        config = botocore.config.Config(
            # Since boto3 1.36 every request carries a CRC checksum by default, which many
            # S3-compatible services reject (boto3#4392); ask for checksums only when required.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"max_attempts": 3},
        )
        # A private session: boto3's default session is not safe to share between threads.
        session = boto3.session.Session()
        self._client: Any = session.client(
            "s3", endpoint_url=endpoint_url, region_name=region, config=config
        )
        self._transfer = TransferConfig(
            multipart_threshold=PART_BYTES, multipart_chunksize=PART_BYTES, max_concurrency=4
        )
        # s3transfer reads parts of a file object into memory, by default up to 10 of them;
        # with 4 this bounds an upload at 32 MiB whatever the blob's size.
        self._transfer.max_in_memory_upload_chunks = 4

    @property
    def endpoint_url(self) -> str:
        """The endpoint boto3 resolved (explicit, from the environment, or AWS's default)."""
        return str(self._client.meta.endpoint_url)

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        return f"{where} at {self.endpoint_url}"

    def writer(self, key: str) -> S3BlobWriter:
        return S3BlobWriter(key, self)

    def iter_chunks(self, key: str, *, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        name = self._object_name(key)
        with self._translated_errors(key):
            body = self._client.get_object(Bucket=self.bucket, Key=name)["Body"]
        return ChunkIterator(body.iter_chunks(chunk_size), body.close)

    def delete(self, key: str) -> None:
        name = self._object_name(key)
        with self._translated_errors(key):
            # S3 answers 204 for a missing key too, so "missing is fine" comes for free.
            self._client.delete_object(Bucket=self.bucket, Key=name)

    def list_blobs(self, prefix: str) -> Iterator[StoredBlob]:
        own = f"{self.prefix}/" if self.prefix else ""
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=own + validate_prefix(prefix)
        )
        with self._translated_errors(prefix):
            for page in pages:
                for found in page.get("Contents", ()):
                    key = str(found["Key"]).removeprefix(own)
                    yield StoredBlob(key, found["LastModified"].timestamp())

    def _upload(self, key: str, fileobj: IO[bytes], info: BlobInfo) -> None:
        """Store `fileobj` (positioned at its start) as `key`; multipart above PART_BYTES."""
        name = self._object_name(key)
        extra = {"Metadata": {"sha256": info.sha256}, "ContentType": "application/octet-stream"}
        with self._translated_errors(key):
            self._client.upload_fileobj(
                fileobj, self.bucket, name, ExtraArgs=extra, Config=self._transfer
            )

    def _object_name(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    @contextmanager
    def _translated_errors(self, key: str) -> Iterator[None]:
        """Turn the S3 errors a caller can act on into teamgate errors; re-raise the rest."""
        try:
            yield
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING_CODES:
                raise not_found(key) from None
            if code == "NoSuchBucket":
                raise ConfigError(
                    f"S3 bucket '{self.bucket}' does not exist at {self.endpoint_url}; "
                    "create it or fix the blob storage setting"
                ) from None
            raise
        except NoCredentialsError:
            raise ConfigError(
                f"no AWS credentials for {self.describe()}; set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
            ) from None


class S3BlobWriter(HashingWriter):
    """Spools to memory, then to a temp file past 8 MiB; commit uploads the spool in one go."""

    def __init__(self, key: str, store: S3BlobStore) -> None:
        validate_key(key)
        super().__init__(key)
        self._store_ref = store
        # Closed by commit or abort, not by a with block: the writer outlives this call.
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_BYTES)  # noqa: SIM115

    def _store(self, chunk: bytes) -> None:
        self._spool.write(chunk)

    def _publish(self, info: BlobInfo) -> None:
        self._spool.seek(0)
        self._store_ref._upload(self.key, self._spool, info)
        self._spool.close()

    def _discard(self) -> None:
        # Nothing reached S3 yet: upload_fileobj aborts its own multipart uploads on failure.
        self._spool.close()
