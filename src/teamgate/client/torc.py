"""Client for the Torc API (`/torc-service/v1`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from teamgate.client.audit import iter_events
from teamgate.client.http import JsonClient

PAGE = 10_000


def _q(value: str) -> str:
    return quote(value, safe="")


class TorcClient(JsonClient):
    def ping(self) -> Any:
        return self.get("/ping")

    def version(self) -> Any:
        return self.get("/version")

    # workflows
    def create_workflow_from_spec(self, spec: dict[str, Any]) -> Any:
        return self.post("/workflow_specs", spec)

    def list_workflows(self, **filters: Any) -> list[Any]:
        return self._all("/workflows", **filters)

    def get_workflow(self, workflow_id: int) -> Any:
        return self.get(f"/workflows/{workflow_id}")

    def delete_workflow(self, workflow_id: int) -> Any:
        return self.delete(f"/workflows/{workflow_id}")

    # access groups
    def create_group(self, name: str, description: str | None) -> Any:
        return self.post("/access_groups", {"name": name, "description": description})

    def list_groups(self) -> list[Any]:
        return self._all("/access_groups")

    def get_group(self, group_id: int) -> Any:
        return self.get(f"/access_groups/{group_id}")

    def delete_group(self, group_id: int) -> Any:
        return self.delete(f"/access_groups/{group_id}")

    def add_member(self, group_id: int, user: str, role: str) -> Any:
        body = {"user_name": user, "group_id": group_id, "role": role}
        return self.post(f"/access_groups/{group_id}/members", body)

    def remove_member(self, group_id: int, user: str) -> Any:
        return self.delete(f"/access_groups/{group_id}/members/{_q(user)}")

    def list_members(self, group_id: int) -> list[Any]:
        return self._all(f"/access_groups/{group_id}/members")

    def list_user_groups(self, user: str) -> list[Any]:
        return self._all(f"/users/{_q(user)}/groups")

    def add_workflow(self, workflow_id: int, group_id: int) -> Any:
        return self.post(f"/workflows/{workflow_id}/access_groups/{group_id}")

    def remove_workflow(self, workflow_id: int, group_id: int) -> Any:
        return self.delete(f"/workflows/{workflow_id}/access_groups/{group_id}")

    def list_workflow_groups(self, workflow_id: int) -> list[Any]:
        return self._all(f"/workflows/{workflow_id}/access_groups")

    def check_access(self, workflow_id: int, user: str) -> Any:
        return self.get(f"/access_check/{workflow_id}/{_q(user)}")

    def explain_access(self, workflow_id: int, user: str, *, action: str | None = None) -> Any:
        """Every check on whether `user` may do `action` (default read) on the workflow."""
        return self.get(f"/access_explain/{workflow_id}/{_q(user)}", action=action)

    def reload_auth(self) -> Any:
        return self.post("/admin/reload-auth")

    def list_audit(self, *, limit: int = 100, **filters: Any) -> list[Any]:
        """Audit events, newest first (system administrators only); see client.audit."""
        return list(iter_events(self, "/audit", limit=limit, **filters))

    def _all(self, path: str, **params: Any) -> list[Any]:
        """Every item of a paginated list."""
        items: list[Any] = []
        offset = 0
        while True:
            page = self.get(path, offset=offset, limit=PAGE, **params)
            items.extend(page["items"])
            if not page["has_more"] or not page["items"]:
                return items
            offset += len(page["items"])
