"""Blobs as files under one directory, written to a temp file and renamed into place."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

from teamgate.errors import ConfigError, Invalid
from teamgate.storage.blobs.base import (
    BlobInfo,
    ChunkIterator,
    HashingWriter,
    StreamingBlobStore,
    not_found,
    validate_key,
)

TEMP_SUFFIX = ".tmp"


class FilesystemBlobStore(StreamingBlobStore):
    """Blobs under `root`; a committed blob survives a crash, an uncommitted one never shows."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().absolute()
        self._ensure_root()

    def describe(self) -> str:
        return f"filesystem {self.root}"

    def writer(self, key: str) -> FilesystemBlobWriter:
        path = self._path(key)
        if path.is_dir():
            raise Invalid(f"blob key '{key}' names a folder of other blobs; choose another key")
        self._make_parents(key, path.parent)
        # Same directory as the target, so os.replace is a rename within one filesystem.
        # The name starts with a dot and the target's name to make leftovers recognisable.
        fd, tmp = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name[:64]}.", suffix=TEMP_SUFFIX
        )
        return FilesystemBlobWriter(key, path, Path(tmp), fd)

    def iter_chunks(self, key: str, *, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        path = self._path(key)
        try:
            # Opened now: the open file keeps this version even if the key is replaced meanwhile.
            file = path.open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise not_found(key) from None
        return ChunkIterator(iter(partial(file.read, chunk_size), b""), file.close)

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return
        _fsync_dir(path.parent)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    def _ensure_root(self) -> None:
        if self.root.is_dir():
            return
        try:
            self.root.mkdir(parents=True, mode=0o700)
        except FileExistsError:
            if not self.root.is_dir():
                raise ConfigError(
                    f"blob directory {self.root} exists and is not a directory"
                ) from None
            return
        except OSError as exc:
            raise ConfigError(f"cannot create blob directory {self.root}: {exc.strerror}") from None
        self.root.chmod(0o700)  # whatever the umask: state files hold secrets

    def _make_parents(self, key: str, parent: Path) -> None:
        """Create the folders above a blob, making each new folder's entry durable."""
        current = self.root
        for part in parent.relative_to(self.root).parts:
            current = current / part
            try:
                current.mkdir(mode=0o700)
            except FileExistsError:
                if not current.is_dir():
                    prefix = current.relative_to(self.root).as_posix()
                    raise Invalid(
                        f"blob key '{key}' is below the blob '{prefix}'; choose another key"
                    ) from None
            else:
                _fsync_dir(current.parent)


class FilesystemBlobWriter(HashingWriter):
    """Writes to a temp file next to the target; commit fsyncs, renames, fsyncs the folder."""

    def __init__(self, key: str, path: Path, tmp: Path, fd: int) -> None:
        super().__init__(key)
        self._path = path
        self._tmp = tmp
        self._file = os.fdopen(fd, "wb")

    def _store(self, chunk: bytes) -> None:
        self._file.write(chunk)

    def _publish(self, info: BlobInfo) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._tmp, self._path)
        _fsync_dir(self._path.parent)

    def _discard(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        self._tmp.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
