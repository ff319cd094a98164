"""What every blob store promises: keys, the writer life cycle, and streaming reads."""

from __future__ import annotations

import errno
import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from teamgate.domain.text import has_control
from teamgate.errors import InsufficientStorage, Invalid, NotFound

MAX_KEY_BYTES = 1024  # S3's limit for a whole key
MAX_SEGMENT_BYTES = 255  # NAME_MAX on the filesystems we write to


@dataclass(frozen=True)
class BlobInfo:
    """A stored blob: its key, size in bytes and hex SHA-256 of its content."""

    key: str
    size: int
    sha256: str


@dataclass(frozen=True)
class StoredBlob:
    """A committed blob as a listing shows it: its key and when it was last written."""

    key: str
    modified: float  # seconds since the epoch


@runtime_checkable
class BlobWriter(Protocol):
    """Streams one blob in; nothing is visible under the key until `commit` returns.

    Leaving a `with` block without `commit` (by an exception or otherwise) discards the data.
    """

    def write(self, chunk: bytes) -> None: ...

    def commit(self) -> BlobInfo:
        """Make the blob durable and visible under its key, replacing any previous content."""
        ...

    def abort(self) -> None:
        """Discard what was written; harmless after `commit` or a previous `abort`."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@runtime_checkable
class BlobStore(Protocol):
    """Content-agnostic storage of whole blobs under relative POSIX keys."""

    def writer(self, key: str) -> BlobWriter: ...

    def iter_chunks(self, key: str, *, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """Stream a blob; raises NotFound at call time, before the first chunk is asked for."""
        ...

    def read(self, key: str) -> bytes: ...

    def copy(self, src_key: str, dst_key: str) -> BlobInfo: ...

    def delete(self, key: str) -> None:
        """Remove a blob; a missing blob is not an error."""
        ...

    def list_blobs(self, prefix: str) -> Iterator[StoredBlob]:
        """Committed blobs whose keys start with the folder `prefix` (ending in '/'), in no
        particular order; never a write in progress."""
        ...

    def describe(self) -> str:
        """Where the blobs live, for logs (never contains credentials)."""
        ...


def validate_key(key: str) -> str:
    """Return `key` if it is a safe relative POSIX path, else raise Invalid saying why."""
    problem = _key_problem(key)
    if problem:
        raise Invalid(f"invalid blob key {key!r}: {problem}")
    return key


def _key_problem(key: str) -> str | None:
    if not isinstance(key, str) or not key:
        return "it is empty"
    if key.startswith("/"):
        return "it must be relative (no leading '/')"
    if has_control(key):
        return "it contains control characters"
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return "it is not valid UTF-8"
    if size > MAX_KEY_BYTES:
        return f"it is longer than {MAX_KEY_BYTES} bytes"
    for segment in key.split("/"):
        if not segment:
            return "it has an empty path segment"
        if segment in (".", ".."):
            return f"it has a '{segment}' segment"
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            return f"a segment is longer than {MAX_SEGMENT_BYTES} bytes"
    return None


def validate_prefix(prefix: str) -> str:
    """Return `prefix` if it is a folder of keys (`units/new/`), else raise Invalid."""
    if not prefix.endswith("/"):
        raise Invalid(f"invalid blob prefix {prefix!r}: it must end with '/'")
    validate_key(prefix[:-1])
    return prefix


# What a full disk, an exhausted quota or a file size limit (RLIMIT_FSIZE) answers a write.
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


@contextmanager
def full_disk_is_insufficient_storage(what: str) -> Iterator[None]:
    """Turn an OSError that says the storage is full into InsufficientStorage; `what` names
    the store for the message."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in FULL_ERRNOS:
            raise
        raise InsufficientStorage(
            f"The server's blob storage ({what}) is full: {os.strerror(exc.errno)}. Nothing "
            "was changed; an operator must free space (or raise the quota), then try again"
        ) from exc


def not_found(key: str) -> NotFound:
    return NotFound(f"blob '{key}' not found")


class HashingWriter(ABC):
    """The writer life cycle shared by the stores; subclasses only move bytes.

    Hashes and counts what passes through, commits at most once and aborts idempotently.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self._sha256 = hashlib.sha256()
        self._size = 0
        self._info: BlobInfo | None = None
        self._closed = False

    def _where(self) -> str:
        """Where the pending blob goes, for messages (a folder, a spool file)."""
        return "local disk"

    @abstractmethod
    def _store(self, chunk: bytes) -> None:
        """Append `chunk` to the pending blob."""

    @abstractmethod
    def _publish(self, info: BlobInfo) -> None:
        """Make the pending blob durable under its key."""

    @abstractmethod
    def _discard(self) -> None:
        """Remove whatever the pending blob left behind; must tolerate partial states."""

    def write(self, chunk: bytes) -> None:
        if self._closed:
            raise ValueError(f"the writer for blob '{self.key}' is already closed")
        if chunk:
            with full_disk_is_insufficient_storage(self._where()):
                self._store(chunk)
            self._sha256.update(chunk)
            self._size += len(chunk)

    def commit(self) -> BlobInfo:
        if self._info is not None:
            return self._info
        if self._closed:
            raise ValueError(f"the writer for blob '{self.key}' was aborted; nothing to commit")
        info = BlobInfo(key=self.key, size=self._size, sha256=self._sha256.hexdigest())
        try:
            with full_disk_is_insufficient_storage(self._where()):
                self._publish(info)
        except BaseException:
            self.abort()
            raise
        self._closed = True
        self._info = info
        return info

    def abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._discard()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()


class ChunkIterator(Iterator[bytes]):
    """Chunks from an already opened source, which is closed when exhausted or on `close()`.

    A plain generator would not run its cleanup if it were dropped before its first `next()`.
    """

    def __init__(self, chunks: Iterator[bytes], close: Callable[[], None]) -> None:
        self._chunks = chunks
        self._close: Callable[[], None] | None = close

    def __next__(self) -> bytes:
        if self._close is None:
            raise StopIteration
        try:
            return next(self._chunks)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        close, self._close = self._close, None
        if close is not None:
            close()

    def __del__(self) -> None:
        self.close()


class StreamingBlobStore(ABC):
    """`put`, `read` and `copy` expressed through `writer` and `iter_chunks`."""

    @abstractmethod
    def writer(self, key: str) -> BlobWriter: ...

    @abstractmethod
    def iter_chunks(self, key: str, *, chunk_size: int = 1 << 20) -> Iterator[bytes]: ...

    def read(self, key: str) -> bytes:
        return b"".join(self.iter_chunks(key))

    def copy(self, src_key: str, dst_key: str) -> BlobInfo:
        """Copy through this process, so the returned hash is of the bytes actually written."""
        validate_key(dst_key)
        chunks = self.iter_chunks(src_key)
        try:
            with self.writer(dst_key) as w:
                for chunk in chunks:
                    w.write(chunk)
                return w.commit()
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
