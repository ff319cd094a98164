"""Stores for Terraform state blobs: a local directory or an S3 bucket, behind one Protocol.

The S3 module (and boto3) is imported only when an `s3://` store is opened.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

from teamgate.errors import ConfigError, Invalid
from teamgate.storage.blobs.base import BlobInfo, BlobStore, BlobWriter, validate_key
from teamgate.storage.blobs.filesystem import FilesystemBlobStore

__all__ = ["BlobInfo", "BlobStore", "BlobWriter", "FilesystemBlobStore", "open_blob_store"]

S3_OPTIONS = ("endpoint", "region")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# AWS's rules for new buckets, relaxed to the legacy ones (capitals, '_') some services still use.
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$")
_REGION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_USERINFO = re.compile(r"//[^/?#@]*@")


def open_blob_store(spec: str | None, *, default_dir: Path) -> BlobStore:
    """Open the store a setting names.

    None means `default_dir`; a path (or `file:///path`) means that directory;
    `s3://bucket/optional/prefix?endpoint=http://host:port&region=name` means S3. Without
    `endpoint`, boto3 resolves it (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, or AWS itself).
    Raises ConfigError naming the setting when it cannot be used.
    """
    if spec is None:
        return FilesystemBlobStore(default_dir)
    match = _SCHEME.match(spec)
    if match is None:
        return _open_directory(spec, spec)
    scheme = match.group(1).lower()
    if scheme == "s3":
        return _open_s3(spec)
    if scheme == "file":
        return _open_file_url(spec)
    raise _bad(spec, f"unsupported scheme '{scheme}://'; use a directory or s3://bucket/prefix")


def _bad(spec: str, problem: str) -> ConfigError:
    # A mistyped setting may carry credentials (s3://key:secret@bucket): never echo them.
    shown = _USERINFO.sub("//***@", spec)
    return ConfigError(f"blob storage setting {shown!r} is not usable: {problem}")


def _open_directory(spec: str, path: str) -> FilesystemBlobStore:
    if not path.strip():
        raise _bad(spec, "it is empty; give a directory or s3://bucket/prefix")
    if "\x00" in path:
        raise _bad(spec, "it contains a NUL character")
    return FilesystemBlobStore(Path(path))


def _open_file_url(spec: str) -> FilesystemBlobStore:
    parts = urlsplit(spec)
    if parts.netloc not in ("", "localhost") or parts.query or "#" in spec:
        raise _bad(spec, "a file URL is file:///absolute/path, without host, query or fragment")
    return _open_directory(spec, unquote(parts.path))


def _open_s3(spec: str) -> BlobStore:
    parts = urlsplit(spec)
    if "@" in parts.netloc:
        raise _bad(spec, "credentials do not belong here; use AWS_ACCESS_KEY_ID or AWS_PROFILE")
    if not _BUCKET.match(parts.netloc):
        raise _bad(spec, f"'{parts.netloc}' is not an S3 bucket name")
    if "#" in spec:
        raise _bad(spec, "it has a '#' fragment")
    prefix = unquote(parts.path).strip("/")
    if prefix:
        try:
            validate_key(prefix)
        except Invalid as exc:
            raise _bad(spec, f"bad key prefix: {exc.message}") from None
    options = _s3_options(spec, parts)
    try:
        from botocore.exceptions import BotoCoreError

        from teamgate.storage.blobs.s3 import S3BlobStore
    except ModuleNotFoundError as exc:
        if exc.name not in ("boto3", "botocore", "s3transfer"):
            raise
        raise _bad(spec, "S3 storage needs boto3: pip install 'teamgate[s3]'") from None
    try:
        return S3BlobStore(
            parts.netloc,
            prefix,
            endpoint_url=options.get("endpoint"),
            region=options.get("region"),
        )
    except (ValueError, BotoCoreError) as exc:
        raise _bad(spec, str(exc)) from None


def _s3_options(spec: str, parts: SplitResult) -> dict[str, str]:
    try:
        raw = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise _bad(spec, "its query string is malformed") from None
    options: dict[str, str] = {}
    for name, values in raw.items():
        if name not in S3_OPTIONS:
            raise _bad(spec, f"unknown option '{name}' (known: {', '.join(S3_OPTIONS)})")
        if len(values) != 1 or not values[0]:
            raise _bad(spec, f"option '{name}' needs exactly one non-empty value")
        options[name] = values[0]
    endpoint = options.get("endpoint")
    if endpoint is not None:
        target = urlsplit(endpoint)
        if target.scheme not in ("http", "https") or not target.hostname:
            raise _bad(spec, "endpoint must be an http:// or https:// URL with a host")
        if "@" in target.netloc:
            raise _bad(spec, "credentials do not belong in the endpoint; use AWS_ACCESS_KEY_ID")
        try:
            target.port  # noqa: B018 - parsing the port is the check
        except ValueError:
            raise _bad(spec, "endpoint has an invalid port") from None
    region = options.get("region")
    if region is not None and not _REGION.match(region):
        raise _bad(spec, f"'{region}' is not a region name")
    return options
