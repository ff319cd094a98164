"""Blob store contract, run on a real directory and on a real S3 API (a moto server process)."""

from __future__ import annotations

import hashlib
import random
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from teamgate.errors import ConfigError, Invalid, NotFound
from teamgate.storage.blobs import BlobStore, open_blob_store
from teamgate.storage.blobs.filesystem import FilesystemBlobStore
from teamgate.storage.blobs.s3 import S3BlobStore
from tests.storage.conftest import MotoServer, exists, put

MiB = 1 << 20
KEY = "units/ab/12/v3.tfstate"


def stored_names(store: BlobStore) -> list[str]:
    """Everything the backend holds for this store, temp files and stray objects included."""
    if isinstance(store, FilesystemBlobStore):
        files = (p for p in store.root.rglob("*") if p.is_file())
        return sorted(p.relative_to(store.root).as_posix() for p in files)
    assert isinstance(store, S3BlobStore)
    client: Any = store._client  # the bucket listing is not part of the store's API
    listing = client.list_objects_v2(Bucket=store.bucket, Prefix=f"{store.prefix}/")
    return sorted(o["Key"].removeprefix(f"{store.prefix}/") for o in listing.get("Contents", []))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_put_and_read_round_trip(store: BlobStore) -> None:
    data = b'{"version": 4, "serial": 1}\n'
    info = put(store, KEY, data)
    assert (info.key, info.size, info.sha256) == (KEY, len(data), sha256(data))
    assert store.read(KEY) == data
    assert exists(store, KEY)
    assert not exists(store, "units/ab/12/v4.tfstate")
    assert stored_names(store) == [KEY]


@pytest.mark.parametrize("key", ["units/dév/a b+c.tfstate", "x", ".hidden/-/~"])
def test_unusual_but_valid_keys_and_empty_blobs(store: BlobStore, key: str) -> None:
    info = put(store, key, b"")
    assert (info.size, info.sha256) == (0, sha256(b""))
    assert store.read(key) == b"" and exists(store, key)


def test_streaming_write_and_read_of_a_large_blob(store: BlobStore) -> None:
    block = random.Random(0).randbytes(MiB)
    expected = hashlib.sha256()
    with store.writer(KEY) as writer:
        for i in range(30):
            chunk = i.to_bytes(4, "big") + block[4:]
            expected.update(chunk)
            writer.write(chunk)
        info = writer.commit()
    assert (info.size, info.sha256) == (30 * MiB, expected.hexdigest())
    got, sizes = hashlib.sha256(), []
    for chunk in store.iter_chunks(KEY, chunk_size=MiB):
        got.update(chunk)
        sizes.append(len(chunk))
    assert got.hexdigest() == expected.hexdigest()
    assert sum(sizes) == 30 * MiB and max(sizes) <= MiB


def test_abort_leaves_nothing(store: BlobStore) -> None:
    put(store, "units/keep", b"kept")
    writer = store.writer(KEY)
    writer.write(b"half a state")
    writer.abort()
    writer.abort()
    assert not exists(store, KEY)
    assert stored_names(store) == ["units/keep"]
    with pytest.raises(ValueError, match="aborted"):
        writer.commit()


def test_commit_is_final(store: BlobStore) -> None:
    writer = store.writer(KEY)
    writer.write(b"done")
    info = writer.commit()
    assert writer.commit() == info
    writer.abort()  # after commit: harmless, the blob stays
    assert store.read(KEY) == b"done"
    with pytest.raises(ValueError, match="closed"):
        writer.write(b"more")


def test_overwrite_shows_old_content_until_commit(store: BlobStore) -> None:
    old, new = b"old state " * 100, b"new state, longer " * 100
    put(store, KEY, old)
    reader = store.iter_chunks(KEY, chunk_size=7)
    first = next(reader)
    writer = store.writer(KEY)
    writer.write(new[:50])
    assert store.read(KEY) == old
    writer.write(new[50:])
    assert store.read(KEY) == old
    info = writer.commit()
    assert store.read(KEY) == new and info.sha256 == sha256(new)
    assert first + b"".join(reader) == old  # a read under way finishes with the old version
    assert stored_names(store) == [KEY]


def test_exception_inside_with_block_aborts(store: BlobStore) -> None:
    put(store, KEY, b"previous")
    with pytest.raises(RuntimeError, match="boom"), store.writer(KEY) as writer:
        writer.write(b"partial")
        raise RuntimeError("boom")
    assert store.read(KEY) == b"previous"
    with store.writer("units/uncommitted") as writer:
        writer.write(b"never committed")
    assert stored_names(store) == [KEY]


def test_missing_blob_is_not_found_at_call_time(store: BlobStore) -> None:
    with pytest.raises(NotFound, match=r"^blob 'units/nope' not found$"):
        store.read("units/nope")
    with pytest.raises(NotFound, match=r"^blob 'units/nope' not found$"):
        store.iter_chunks("units/nope")  # no next(): the error must come before iteration
    with pytest.raises(NotFound):
        store.copy("units/nope", "units/elsewhere")
    assert not exists(store, "units/elsewhere")


def test_delete(store: BlobStore) -> None:
    store.delete("units/never/written")
    put(store, KEY, b"x")
    store.delete(KEY)
    store.delete(KEY)
    assert not exists(store, KEY)
    with pytest.raises(NotFound):
        store.read(KEY)


def test_copy(store: BlobStore) -> None:
    data = b"state to keep as a version"
    put(store, KEY, data)
    put(store, "units/ab/12/versions/v1.tfstate", b"to be replaced")
    info = store.copy(KEY, "units/ab/12/versions/v1.tfstate")
    assert info.key == "units/ab/12/versions/v1.tfstate"
    assert (info.size, info.sha256) == (len(data), sha256(data))
    assert store.read("units/ab/12/versions/v1.tfstate") == data
    assert store.read(KEY) == data


BAD_KEYS = [
    "",
    "/units/a",
    "units//a",
    "units/a/",
    "../a",
    "units/../a",
    "units/./a",
    "units/a\x00b",
    "units/a\nb",
    "units/a\x7f",
    "units/\x85",
    "units/\udc80",
    "k" * 1025,
    "units/" + "s" * 256,
]


KEY_OPERATIONS: dict[str, Callable[[BlobStore, str], object]] = {
    "writer": lambda store, key: store.writer(key),
    "read": lambda store, key: store.read(key),
    "iter_chunks": lambda store, key: store.iter_chunks(key),
    "delete": lambda store, key: store.delete(key),
    "copy from": lambda store, key: store.copy(key, "units/good"),
    "copy to": lambda store, key: store.copy("units/good", key),
}


def _rejects(store: BlobStore, key: str, operation: Callable[[BlobStore, str], object]) -> bool:
    try:
        operation(store, key)
    except Invalid as exc:
        return exc.message.startswith("invalid blob key")
    return False


def test_invalid_keys_are_rejected_by_every_operation(store: BlobStore) -> None:
    put(store, "units/good", b"g")
    # One store for all keys (an S3 client costs tenths of a second); failures name key and call.
    accepted = [
        (key, name)
        for key in BAD_KEYS
        for name, operation in KEY_OPERATIONS.items()
        if not _rejects(store, key, operation)
    ]
    assert accepted == []
    assert stored_names(store) == ["units/good"]


def test_describe_names_the_location(store: BlobStore) -> None:
    described = store.describe()
    if isinstance(store, FilesystemBlobStore):
        assert str(store.root) in described
    else:
        assert isinstance(store, S3BlobStore)
        assert f"s3://{store.bucket}/{store.prefix}" in described and "127.0.0.1" in described


# --- filesystem specifics ---------------------------------------------------------------------


def test_filesystem_permissions(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "new" / "blobs")
    put(store, KEY, b"secret state")
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700
    assert stat.S_IMODE((store.root / KEY).stat().st_mode) == 0o600


def test_filesystem_keys_cannot_nest_under_blobs(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    put(store, "units/a", b"a blob")
    with pytest.raises(Invalid, match="below the blob 'units/a'"):
        store.writer("units/a/b")
    with pytest.raises(Invalid, match="names a folder"):
        store.writer("units")
    assert not exists(store, "units") and store.read("units/a") == b"a blob"


def test_filesystem_root_that_is_a_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a directory"):
        FilesystemBlobStore(tmp_path / "file")


# --- S3 specifics -----------------------------------------------------------------------------


def test_s3_requests_carry_no_default_checksums(moto_server: MotoServer) -> None:
    """boto3 >= 1.36 adds CRC checksums that S3-compatible services reject; we must not."""
    store = S3BlobStore(moto_server.bucket, "checksums", endpoint_url=moto_server.endpoint)
    sent: list[tuple[str, set[str]]] = []
    client: Any = store._client  # watching the wire needs the client's event hooks
    client.meta.events.register(
        "before-send.s3",
        lambda request, **_: sent.append((request.method, {h.lower() for h in request.headers})),
    )
    put(store, KEY, b"x" * 1000)
    put(store, "units/big", b"y" * (9 * MiB))  # past the multipart threshold: s3transfer's path
    store.read(KEY)
    store.copy(KEY, "units/copied")
    assert len(sent) >= 8  # put, create/2 parts/complete, get, get + put
    checksummed = [
        (method, name)
        for method, names in sent
        for name in names
        if name.startswith("x-amz-checksum")
        or name in ("x-amz-trailer", "x-amz-sdk-checksum-algorithm")
    ]
    assert checksummed == []


def test_s3_missing_bucket_is_a_config_error(moto_server: MotoServer) -> None:
    store = open_blob_store(
        f"s3://no-such-bucket-here?endpoint={moto_server.endpoint}", default_dir=Path("unused")
    )
    with pytest.raises(ConfigError, match="bucket 'no-such-bucket-here' does not exist"):
        put(store, KEY, b"x")


# --- open_blob_store ---------------------------------------------------------------------------


def test_open_default_directory_and_paths(tmp_path: Path) -> None:
    default = open_blob_store(None, default_dir=tmp_path / "default")
    assert isinstance(default, FilesystemBlobStore) and default.root == tmp_path / "default"
    assert default.root.is_dir()
    for spec, root in [
        (str(tmp_path / "plain"), tmp_path / "plain"),
        (f"file://{tmp_path}/url%20dir", tmp_path / "url dir"),
    ]:
        store = open_blob_store(spec, default_dir=tmp_path / "unused")
        assert isinstance(store, FilesystemBlobStore) and store.root == root
    assert not (tmp_path / "unused").exists()


def test_open_s3_spec_with_options() -> None:
    spec = "s3://my-bucket/team/state/?endpoint=http://127.0.0.1:9000&region=eu-west-1"
    store = open_blob_store(spec, default_dir=Path("unused"))
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix, store.endpoint_url) == (
        "my-bucket",
        "team/state",
        "http://127.0.0.1:9000",
    )
    assert store._client.meta.region_name == "eu-west-1"
    assert store.describe() == "s3://my-bucket/team/state at http://127.0.0.1:9000"


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"])
def test_open_s3_takes_the_endpoint_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, "http://127.0.0.1:9999")
    store = open_blob_store("s3://bucket", default_dir=Path("unused"))
    assert isinstance(store, S3BlobStore) and store.prefix == ""
    assert store.describe() == "s3://bucket at http://127.0.0.1:9999"


def test_open_s3_spec_against_a_real_server(moto_server: MotoServer) -> None:
    spec = f"s3://{moto_server.bucket}/opened/by/spec?endpoint={moto_server.endpoint}"
    store = open_blob_store(spec, default_dir=Path("unused"))
    assert put(store, KEY, b"via spec").size == 8
    assert store.read(KEY) == b"via spec"


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "   ",
        "dir\x00name",
        "gs://bucket/prefix",
        "s3://",
        "s3:///prefix",
        "s3://b",
        "s3://bucket:9000/x",
        "s3://bad bucket",
        "s3://bucket/a/../b",
        "s3://bucket/a//b",
        "s3://bucket/x#frag",
        "s3://bucket?colour=blue",
        "s3://bucket?endpoint=",
        "s3://bucket?region=a&region=b",
        "s3://bucket?endpoint=ftp://host",
        "s3://bucket?endpoint=http://",
        "s3://bucket?endpoint=http://host:port",
        "s3://bucket?region=eu west",
        "s3://bucket?novalue",
        "file://otherhost/x",
        "file:///x?y=1",
    ],
    ids=repr,
)
def test_bad_specs_are_config_errors_naming_the_spec(spec: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        open_blob_store(spec, default_dir=tmp_path)
    assert "blob storage setting" in caught.value.message
    assert repr(spec) in caught.value.message


@pytest.mark.parametrize(
    "spec", ["s3://AKIAX:topsecret@bucket/p", "s3://bucket?endpoint=http://u:topsecret@host"]
)
def test_bad_specs_do_not_echo_credentials(spec: str) -> None:
    with pytest.raises(ConfigError) as caught:
        open_blob_store(spec, default_dir=Path("unused"))
    assert "topsecret" not in caught.value.message and "***" in caught.value.message


def test_importing_the_package_does_not_import_boto3() -> None:
    code = (
        "import sys, teamgate.storage.blobs as b; "
        "assert 'boto3' not in sys.modules and 'teamgate.storage.blobs.s3' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
