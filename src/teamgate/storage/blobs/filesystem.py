"""Blobs as files under one directory, written to a temp file and renamed into place.

A writer holds an exclusive `flock` on its temp file until the rename, so a temp file that
nobody holds was left by a process that died (the kernel drops the lock with the process):
`remove_abandoned_temp_files` deletes those at startup, while other processes sharing the
directory (workers, replicas) keep writing theirs.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
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
    StoredBlob,
    StreamingBlobStore,
    full_disk_is_insufficient_storage,
    not_found,
    validate_key,
    validate_prefix,
)

TEMP_SUFFIX = ".tmp"

log = logging.getLogger("teamgate.storage")


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
        with full_disk_is_insufficient_storage(str(self.root)):  # no inode or folder left
            self._make_parents(key, path.parent)
            fd, tmp = _locked_temp_file(path)
        return FilesystemBlobWriter(key, path, tmp, fd)

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

    def list_blobs(self, prefix: str) -> Iterator[StoredBlob]:
        folder = self.root.joinpath(*validate_prefix(prefix).split("/"))
        for directory, _dirs, names in os.walk(folder):
            for name in names:
                if _is_temp_name(name):
                    continue  # a write in progress, or a crash's leftover (swept at start)
                path = Path(directory) / name
                with contextlib.suppress(FileNotFoundError):  # deleted meanwhile
                    modified = path.stat(follow_symlinks=False).st_mtime
                    yield StoredBlob(path.relative_to(self.root).as_posix(), modified)

    def remove_abandoned_temp_files(self) -> int:
        """Delete the temp files of writers that died (a crash); returns how many.

        Temp files that a live writer holds, in any process, and committed blobs are left alone.
        """
        removed = 0
        for folder, _dirs, names in os.walk(self.root):
            for name in names:
                if _is_temp_name(name) and _remove_if_abandoned(Path(folder) / name):
                    removed += 1
        if removed:
            log.info("Removed %d temporary blob files left by a crash in %s", removed, self.root)
        return removed

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

    def _where(self) -> str:
        return str(self._path.parent)

    def _store(self, chunk: bytes) -> None:
        self._file.write(chunk)

    def _publish(self, info: BlobInfo) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        os.replace(self._tmp, self._path)  # before close: the lock keeps sweeps away until here
        self._file.close()
        _fsync_dir(self._path.parent)

    def _discard(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        self._tmp.unlink(missing_ok=True)


def _locked_temp_file(path: Path) -> tuple[int, Path]:
    """A new temp file beside `path` (so os.replace renames within one filesystem), opened and
    locked; its name starts with a dot and the target's name so that leftovers are recognisable.
    """
    while True:
        fd, name = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name[:64]}.", suffix=TEMP_SUFFIX
        )
        fcntl.flock(fd, fcntl.LOCK_EX)
        if _names_open_file(Path(name), fd):
            return fd, Path(name)
        os.close(fd)  # a sweep removed it between mkstemp and flock: take another name


def _is_temp_name(name: str) -> bool:
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def _names_open_file(path: Path, fd: int) -> bool:
    try:
        return os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _remove_if_abandoned(path: Path) -> bool:
    """Unlink the temp file at `path` if no live writer holds its lock."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:  # gone already (committed or aborted meanwhile), or not a plain file
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a live writer
        # Locked: its writer is dead, finished or has not locked yet (and will check the name).
        if not _names_open_file(path, fd):
            return False
        path.unlink()
        return True
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
