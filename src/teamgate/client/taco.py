"""Client for the OpenTaco API (`/v1`): tokens, RBAC, units; and the CLI's saved state.

The saved state lives under `<user config dir>/teamgate/taco/`: `credentials.json` (API tokens
keyed by server URL) and `locks/<server hash>/<unit>.lock` (the lock IDs `taco unit lock` took).
Both are written atomically with mode 0600 in directories with mode 0700.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

from teamgate.client.audit import iter_events
from teamgate.client.http import JsonClient, Progress


def _q(value: str) -> str:
    return quote(value, safe="")


def _unit(path: str) -> str:
    """A unit path as it goes in the URL: slashes kept, everything else escaped."""
    return quote(path, safe="/")


class TacoClient(JsonClient):
    def __init__(self, base_url: str, **kwargs: Any) -> None:
        if base_url.lower().startswith("http://") and "verify" not in kwargs:
            # No TLS on a plain-http server: skip loading the CA bundle (~80 ms a command).
            # The context still verifies and trusts nothing, so TLS could never pass unchecked.
            kwargs["verify"] = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        super().__init__(base_url, **kwargs)

    # -- tokens and identity ------------------------------------------------------------
    def issue_token(self, *, description: str | None = None, ttl_days: int | None = None) -> Any:
        body: dict[str, Any] = {}
        if description is not None:
            body["description"] = description
        if ttl_days is not None:
            body["ttl_days"] = ttl_days
        return self.post("/v1/auth/token", body)

    def revoke_token(self) -> Any:
        return self.delete("/v1/auth/token")

    def revoke_user_tokens(self, user: str) -> Any:
        """Revoke every token of `user` (a system administrator, or that user)."""
        return self.request("DELETE", "/v1/auth/tokens", params={"user": user})

    def create_token(self, body: dict[str, Any]) -> Any:
        """A new token of the caller's (signed in with a password): `body` as POST
        /v1/auth/token takes it (name, ttl, read_only, unit_prefix, workflow_id, ...)."""
        return self.post("/v1/auth/token", body)

    def list_tokens(self, **params: Any) -> Any:
        """One page of tokens: `{items, total_count, has_more, ...}` (user, all, offset, limit)."""
        return self.get("/v1/auth/tokens", **params)

    def revoke_token_id(self, token_id: int) -> Any:
        return self.delete(f"/v1/auth/tokens/{token_id}")

    def whoami(self) -> Any:
        return self.get("/v1/auth/me")

    # -- RBAC ---------------------------------------------------------------------------
    def rbac_init(self) -> Any:
        return self.post("/v1/rbac/init")

    def rbac_me(self) -> Any:
        return self.get("/v1/rbac/me")

    def rbac_test(
        self, email: str, action: str, resource: str | None, *, prefix: str | None = None
    ) -> Any:
        """`resource` None with unit.read: what `unit ls [prefix]` would show `email`."""
        body = {"email": email, "action": action, "resource": resource, "prefix": prefix}
        return self.post("/v1/rbac/test", {k: v for k, v in body.items() if v is not None})

    def create_permission(
        self, id: str, *, name: str, description: str | None, rules: list[str]
    ) -> Any:
        body = {"id": id, "name": name, "description": description, "rules": rules}
        return self.post("/v1/rbac/permissions", body)

    def list_permissions(self) -> list[Any]:
        return list(self.get("/v1/rbac/permissions"))

    def delete_permission(self, permission_id: str) -> Any:
        return self.delete(f"/v1/rbac/permissions/{_q(permission_id)}")

    def create_role(self, id: str, *, name: str, description: str | None) -> Any:
        return self.post("/v1/rbac/roles", {"id": id, "name": name, "description": description})

    def list_roles(self) -> list[Any]:
        return list(self.get("/v1/rbac/roles"))

    def delete_role(self, role_id: str) -> Any:
        return self.delete(f"/v1/rbac/roles/{_q(role_id)}")

    def assign_permission(self, role_id: str, permission_id: str) -> Any:
        body = {"permission_id": permission_id}
        return self.post(f"/v1/rbac/roles/{_q(role_id)}/permissions", body)

    def revoke_permission(self, role_id: str, permission_id: str) -> Any:
        return self.delete(f"/v1/rbac/roles/{_q(role_id)}/permissions/{_q(permission_id)}")

    def list_users(self) -> list[Any]:
        return list(self.get("/v1/rbac/users"))

    def assign_role(self, email: str, role_id: str) -> Any:
        return self.post("/v1/rbac/users/assign", {"email": email, "role_id": role_id})

    def revoke_role(self, email: str, role_id: str) -> Any:
        return self.post("/v1/rbac/users/revoke", {"email": email, "role_id": role_id})

    def list_group_roles(self, *, offset: int = 0, limit: int | None = None) -> Any:
        """One page of the roles given to access groups (`items`, `has_more`, …)."""
        return self.get("/v1/rbac/groups", offset=offset, limit=limit)

    def assign_group_role(self, group: str, role_id: str) -> Any:
        return self.post("/v1/rbac/groups/assign", {"group": group, "role_id": role_id})

    def revoke_group_role(self, group: str, role_id: str) -> Any:
        return self.post("/v1/rbac/groups/revoke", {"group": group, "role_id": role_id})

    # -- units --------------------------------------------------------------------------
    def create_unit(self, path: str) -> Any:
        return self.post("/v1/units", {"path": path})

    def list_units(
        self, prefix: str | None = None, *, limit: int | None = None, after: str | None = None
    ) -> Any:
        """One page: `units`, `count` and `next_cursor` (None on the last page)."""
        return self.get("/v1/units", prefix=prefix or None, limit=limit, after=after)

    def iter_units(self, prefix: str | None = None, *, page_size: int = 1000) -> Iterator[Any]:
        """Every unit the caller may read, in path order, one page in memory at a time."""
        after = None
        while True:
            page = self.list_units(prefix, limit=page_size, after=after)
            yield from page["units"]
            after = page.get("next_cursor")
            if not after:
                return

    def get_unit(self, path: str) -> Any:
        return self.get(f"/v1/units/{_unit(path)}")

    def delete_unit(self, path: str) -> Any:
        return self.delete(f"/v1/units/{_unit(path)}")

    def download_state(self, path: str, file: BinaryIO, *, progress: Progress | None = None) -> int:
        """Stream the unit's state into `file`; the number of bytes (0 when it has none)."""
        return self.stream_download(f"/v1/state/{_unit(path)}", file, progress=progress)

    def upload_state(
        self,
        path: str,
        file: BinaryIO,
        *,
        lock_id: str | None = None,
        progress: Progress | None = None,
    ) -> Any:
        return self.upload_file(
            "PUT",
            f"/v1/state/{_unit(path)}",
            file,
            params={"lock_id": lock_id},
            content_type="application/json",
            progress=progress,
        )

    def lock_unit(self, path: str, *, lock_id: str | None = None, who: str | None = None) -> Any:
        body = {k: v for k, v in (("id", lock_id), ("who", who)) if v}
        return self.post(f"/v1/locks/{_unit(path)}", body)

    def unlock_unit(self, path: str, *, lock_id: str | None = None, force: bool = False) -> Any:
        params = {"force": "true"} if force else {"lock_id": lock_id}
        return self.request("DELETE", f"/v1/locks/{_unit(path)}", params=params)

    def list_versions(self, path: str) -> list[Any]:
        return list(self.get(f"/v1/versions/{_unit(path)}")["versions"])

    def restore_version(self, path: str, version: int, *, lock_id: str | None = None) -> Any:
        body: dict[str, Any] = {"version": version}
        if lock_id:
            body["lock_id"] = lock_id
        return self.post(f"/v1/restore/{_unit(path)}", body)

    def share_unit(self, path: str, group: str, *, access: str | None = None) -> Any:
        """Share the unit with the group, at level `access` (None: the server's default)."""
        body = {"group": group, **({"access": access} if access is not None else {})}
        return self.post(f"/v1/shares/{_unit(path)}", body)

    def unshare_unit(self, path: str, group: str) -> Any:
        return self.request("DELETE", f"/v1/shares/{_unit(path)}", params={"group": group})

    def unit_access(self, path: str) -> Any:
        """Every user and group that can reach the unit, and how (services.reach)."""
        return self.get(f"/v1/access/{_unit(path)}")

    def list_audit(self, *, limit: int = 100, **filters: Any) -> list[Any]:
        """Audit events, newest first (system administrators only); see client.audit."""
        return list(iter_events(self, "/v1/audit", limit=limit, **filters))


# -- saved state ---------------------------------------------------------------------------


def normalize_server(url: str) -> str:
    return url.strip().rstrip("/")


def state_dir() -> Path:
    """`<user config dir>/teamgate/taco` (honours XDG_CONFIG_HOME on Linux)."""
    import platformdirs

    return Path(platformdirs.user_config_dir("teamgate")) / "taco"


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (temp file + rename), readable by the owner only."""
    _private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:  # mkstemp makes it 0600
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        from teamgate.errors import Invalid

        raise Invalid(f"cannot read {path}: {exc}; delete it and run 'taco login' again") from None
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True, slots=True)
class SavedToken:
    token: str
    user: str | None = None
    expires_at: str | None = None
    id: int | None = None


class CredentialStore:
    """API tokens saved by `taco login`, one per server URL, in `credentials.json` (0600)."""

    def __init__(self, root: Path | None = None) -> None:
        self.path = (root or state_dir()) / "credentials.json"

    def _servers(self) -> dict[str, Any]:
        servers = _read_json(self.path).get("servers", {})
        return servers if isinstance(servers, dict) else {}

    def find(self, server: str) -> SavedToken | None:
        entry = self._servers().get(normalize_server(server))
        if not isinstance(entry, dict) or not isinstance(entry.get("token"), str):
            return None
        return SavedToken(
            entry["token"], entry.get("user"), entry.get("expires_at"), entry.get("id")
        )

    def save(self, server: str, saved: SavedToken) -> None:
        servers = self._servers()
        servers[normalize_server(server)] = {
            "token": saved.token,
            "user": saved.user,
            "expires_at": saved.expires_at,
            "id": saved.id,
        }
        _write_private(self.path, json.dumps({"servers": servers}, indent=2) + "\n")

    def remove(self, server: str) -> bool:
        servers = self._servers()
        if servers.pop(normalize_server(server), None) is None:
            return False
        _write_private(self.path, json.dumps({"servers": servers}, indent=2) + "\n")
        return True


SAFE_NAME = re.compile(r"^[A-Za-z0-9._@+=-]{1,200}$")


class LockStore:
    """Lock IDs taken by `taco unit lock`, so that `push`, `restore` and `unlock` reuse them.

    One file per unit: `locks/<server hash>/<unit path with / → __>.lock` holding JSON with
    the unit path (checked on read, since `a/b` and `a__b` share a file name) and the lock ID.
    """

    def __init__(self, server: str, root: Path | None = None) -> None:
        digest = hashlib.sha256(normalize_server(server).encode()).hexdigest()[:16]
        self.dir = (root or state_dir()) / "locks" / digest

    def _file(self, unit: str) -> Path:
        name = _normal(unit).replace("/", "__")
        if not SAFE_NAME.match(name) or name.startswith("."):
            name = "sha256-" + hashlib.sha256(unit.encode()).hexdigest()
        return self.dir / f"{name}.lock"

    def find(self, unit: str) -> str | None:
        data = _read_json(self._file(unit))
        lock_id = data.get("lock_id")
        return lock_id if data.get("unit") == _normal(unit) and isinstance(lock_id, str) else None

    def save(self, unit: str, lock_id: str, *, who: str | None = None) -> Path:
        path = self._file(unit)
        record = {"unit": _normal(unit), "lock_id": lock_id, "who": who}
        _write_private(path, json.dumps(record, indent=2) + "\n")
        return path

    def remove(self, unit: str) -> None:
        if self.find(unit) is not None:
            self._file(unit).unlink(missing_ok=True)


def lock_field(lock: dict[str, Any], name: str) -> Any:
    """A field of a lock in either form: ours (`id`, `who`) or Terraform's (`ID`, `Who`)."""
    return lock.get(name, lock.get(name.upper() if name == "id" else name.capitalize()))


def _normal(unit: str) -> str:
    """The unit path as the server stores it (`//a//b/` is `a/b`)."""
    return "/".join(part for part in unit.split("/") if part)


@contextmanager
def atomic_output(path: Path) -> Iterator[BinaryIO]:
    """A binary file that replaces `path` only when the block succeeds."""
    # State often holds secrets: a new file is 0600 (mkstemp's mode); a replaced one keeps its.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        with suppress(FileNotFoundError):
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
