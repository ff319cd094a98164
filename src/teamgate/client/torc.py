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

    def whoami(self) -> Any:
        """Who the server sees: `GET /v1/auth/me`, beside the Torc API on the same server."""
        return self.get(self.base_url.removesuffix("/torc-service/v1") + "/v1/auth/me")

    # workflows
    def create_workflow_from_spec(self, spec: dict[str, Any]) -> Any:
        return self.post("/workflow_specs", spec)

    def list_workflows(self, **filters: Any) -> list[Any]:
        return self._all("/workflows", **filters)

    def get_workflow(self, workflow_id: int) -> Any:
        return self.get(f"/workflows/{workflow_id}")

    def delete_workflow(self, workflow_id: int) -> Any:
        return self.delete(f"/workflows/{workflow_id}")

    # runner tokens
    def create_runner_token(
        self, workflow_id: int, ttl_hours: float | None = None, description: str | None = None
    ) -> Any:
        """A token good only for this workflow's runner calls and reads:
        `{token, id, workflow_id, expires_at}` (ttl_hours: the server's default when None)."""
        body: dict[str, Any] = {"description": description}
        if ttl_hours is not None:
            body["ttl_hours"] = ttl_hours
        return self.post(f"/workflows/{workflow_id}/runner_tokens", body)

    def revoke_runner_tokens(self, workflow_id: int) -> Any:
        """Revoke every runner token of the workflow: `{workflow_id, revoked}`."""
        return self.delete(f"/workflows/{workflow_id}/runner_tokens")

    # the caller's API tokens (and, for system administrators, anyone's)
    def create_token(self, body: dict[str, Any]) -> Any:
        return self.post("/tokens", body)

    def list_tokens(self, **params: Any) -> Any:
        """One page of tokens: `{items, total_count, has_more, ...}` (user, all, offset, limit)."""
        return self.get("/tokens", **params)

    def revoke_token_id(self, token_id: int) -> Any:
        return self.delete(f"/tokens/{token_id}")

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

    def add_workflow(self, workflow_id: int, group_id: int, *, access: str | None = None) -> Any:
        """Share the workflow with the group, at level `access` (None: the server's default)."""
        body = {"access": access} if access is not None else None
        return self.post(f"/workflows/{workflow_id}/access_groups/{group_id}", body)

    def remove_workflow(self, workflow_id: int, group_id: int) -> Any:
        return self.delete(f"/workflows/{workflow_id}/access_groups/{group_id}")

    def list_workflow_groups(self, workflow_id: int) -> list[Any]:
        return self._all(f"/workflows/{workflow_id}/access_groups")

    def check_access(self, workflow_id: int, user: str) -> Any:
        return self.get(f"/access_check/{workflow_id}/{_q(user)}")

    def explain_access(self, workflow_id: int, user: str, *, action: str | None = None) -> Any:
        """Every check on whether `user` may do `action` (default read) on the workflow."""
        return self.get(f"/access_explain/{workflow_id}/{_q(user)}", action=action)

    def who_can_reach(self, workflow_id: int) -> Any:
        """Every user and group that can reach the workflow, and how (services.reach)."""
        return self.get(f"/workflows/{workflow_id}/access")

    def reload_auth(self) -> Any:
        return self.post("/admin/reload-auth")

    def list_audit(self, *, limit: int = 100, **filters: Any) -> list[Any]:
        """Audit events, newest first (system administrators only); see client.audit."""
        return list(iter_events(self, "/audit", limit=limit, **filters))

    # running a workflow (torc-client 0.35.0's workflow calls)
    def is_uninitialized(self, workflow_id: int) -> bool:
        return bool(self.get(f"/workflows/{workflow_id}/is_uninitialized")["is_uninitialized"])

    def is_complete(self, workflow_id: int) -> Any:
        """`{is_complete, is_canceled}`."""
        return self.get(f"/workflows/{workflow_id}/is_complete")

    def initialize_jobs(self, workflow_id: int, *, only_uninitialized: bool = False) -> Any:
        params = {"only_uninitialized": _flag(only_uninitialized)}
        return self.request("POST", f"/workflows/{workflow_id}/initialize_jobs", params=params)

    def workflow_status(self, workflow_id: int) -> Any:
        """Per-status job counts and the workflow's run state (WorkflowStatusResponse)."""
        return self.get(f"/workflows/{workflow_id}/status")

    def cancel_workflow(self, workflow_id: int) -> Any:
        return self.request("PUT", f"/workflows/{workflow_id}/cancel")

    def reset_workflow_status(self, workflow_id: int, *, force: bool = False) -> Any:
        params = {"force": "true"} if force else {}
        return self.request("POST", f"/workflows/{workflow_id}/reset_status", params=params)

    def reset_job_status(self, workflow_id: int, *, failed_only: bool = False) -> Any:
        params = {"failed_only": _flag(failed_only)}
        return self.request("POST", f"/workflows/{workflow_id}/reset_job_status", params=params)

    def claim_jobs_by_resources(
        self, workflow_id: int, limit: int, resources: dict[str, Any]
    ) -> list[Any]:
        """Claim ready jobs that fit `resources` (ComputeNodesResources); they come back pending."""
        path = f"/workflows/{workflow_id}/claim_jobs_based_on_resources/{limit}"
        return list(self.post(path, resources).get("jobs") or [])

    def claim_jobs_for_queue(
        self, workflow_id: int, limit: int, resources: dict[str, Any]
    ) -> list[Any]:
        """Claim for a runner's queue (`resources` names the node in `id`): the node's claimed,
        unstarted jobs again, then new ones that each fit, `limit` in all. Safe to repeat."""
        path = f"/workflows/{workflow_id}/claim_jobs_based_on_resources/{limit}"
        answer = self.request("POST", path, json=resources, params={"queue": "true"})
        return list(answer.get("jobs") or [])

    def batch_start_jobs(
        self, workflow_id: int, run_id: int, compute_node_id: int, job_ids: list[int]
    ) -> Any:
        """Start jobs claimed for the node; answers `{started: [ids], errors: [...]}`."""
        body = {"run_id": run_id, "compute_node_id": compute_node_id, "job_ids": job_ids}
        return self.post(f"/workflows/{workflow_id}/batch_start_jobs", body)

    def release_jobs(self, workflow_id: int, compute_node_id: int, job_ids: list[int]) -> Any:
        """Give back jobs claimed for the node and not started; answers `{released: [ids]}`."""
        body = {"compute_node_id": compute_node_id, "job_ids": job_ids}
        return self.post(f"/workflows/{workflow_id}/release_jobs", body)

    def claim_next_jobs(self, workflow_id: int, limit: int) -> list[Any]:
        path = f"/workflows/{workflow_id}/claim_next_jobs"
        answer = self.request("POST", path, params={"limit": limit})
        return list(answer.get("jobs") or [])

    def start_job(self, job_id: int, run_id: int, compute_node_id: int) -> Any:
        return self.request("PUT", f"/jobs/{job_id}/start_job/{run_id}/{compute_node_id}")

    def complete_job(self, job_id: int, status: str, run_id: int, result: dict[str, Any]) -> Any:
        return self.post(f"/jobs/{job_id}/complete_job/{_q(status)}/{run_id}", result)

    def batch_complete_jobs(self, workflow_id: int, completions: list[dict[str, Any]]) -> Any:
        """Complete several jobs of the workflow (`{job_id, status, run_id, result}` each);
        answers `{completed: [job ids], errors: [{job_id, message}]}`."""
        body = {"completions": completions}
        return self.post(f"/workflows/{workflow_id}/batch_complete_jobs", body)

    # Slurm allocations of a workflow
    def create_slurm_allocation(
        self, workflow_id: int, allocation: dict[str, Any], *, only_if_none_active: bool = False
    ) -> Any:
        """Record an allocation about to be submitted; with `only_if_none_active`, a 409
        (ApiError) when the group already has one submitted or running."""
        body = {**allocation, "only_if_none_active": only_if_none_active}
        return self.post(f"/workflows/{workflow_id}/slurm_allocations", body)

    def list_slurm_allocations(self, workflow_id: int) -> list[Any]:
        return list(self.get(f"/workflows/{workflow_id}/slurm_allocations")["items"])

    def update_slurm_allocation(
        self, workflow_id: int, allocation_id: int, changes: dict[str, Any]
    ) -> Any:
        path = f"/workflows/{workflow_id}/slurm_allocations/{allocation_id}"
        return self.request("PATCH", path, json=changes)

    # jobs, results and the records around a run
    def list_jobs(self, workflow_id: int, **filters: Any) -> Any:
        """One page of a workflow's jobs (filters: status, offset, limit)."""
        return self.get("/jobs", workflow_id=workflow_id, **filters)

    def get_job(self, job_id: int) -> Any:
        return self.get(f"/jobs/{job_id}")

    def list_results(self, workflow_id: int, **filters: Any) -> Any:
        """One page of a workflow's results (filters: job_id, run_id, status, offset, limit)."""
        return self.get("/results", workflow_id=workflow_id, **filters)

    def list_events(self, workflow_id: int, **filters: Any) -> Any:
        return self.get("/events", workflow_id=workflow_id, **filters)

    def list_files(self, workflow_id: int, **filters: Any) -> Any:
        return self.get("/files", workflow_id=workflow_id, **filters)

    def get_file(self, file_id: int) -> Any:
        return self.get(f"/files/{file_id}")

    def get_resource_requirements(self, rr_id: int) -> Any:
        return self.get(f"/resource_requirements/{rr_id}")

    def create_compute_node(self, node: dict[str, Any]) -> Any:
        return self.post("/compute_nodes", node)

    def update_compute_node(self, node_id: int, node: dict[str, Any]) -> Any:
        return self.request("PUT", f"/compute_nodes/{node_id}", json=node)

    def heartbeat(self, node_id: int) -> Any:
        """Say the runner of this compute node is alive, once (never retried: the next beat
        is the retry); answers `{last_heartbeat, interval_secs}`."""
        return self.request_once("POST", f"/compute_nodes/{node_id}/heartbeat")

    def sync_status(self, workflow_id: int, *, force: bool = False) -> Any:
        """Recover the workflow's jobs left by runners that stopped sending heartbeats."""
        params = {"force": _flag(force)}
        return self.request("POST", f"/workflows/{workflow_id}/sync_status", params=params)

    def pages(self, path: str, *, offset: int = 0, limit: int = PAGE, **params: Any) -> list[Any]:
        """Up to `limit` items of a paginated list from `offset`, fetched page by page."""
        items: list[Any] = []
        while len(items) < limit:
            want = min(PAGE, limit - len(items))
            page = self.get(path, offset=offset, limit=want, **params)
            items.extend(page["items"])
            if not page["has_more"] or not page["items"]:
                break
            offset += len(page["items"])
        return items

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


def _flag(value: bool) -> str:
    return "true" if value else "false"
