"""A workflow's page in chromium: a member of the group it is shared with watches bob's real
`torc run` update the page by itself, and a read-level member has no cancel button and cannot
forge one."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import Seen, api, create_workflow, ok_json, sign_in
from tests.conftest import BIN, Server, cli_env, torc

# a -> b -> c: b runs long enough that a's result is on the page while c has not run yet
PIPELINE = {
    "name": "nightly-pipeline",
    "jobs": [
        {"name": "prepare", "command": "sleep 1"},
        {"name": "train", "command": "sleep 3", "depends_on": ["prepare"]},
        {"name": "report", "command": "sleep 1", "depends_on": ["train"]},
    ],
}
LIVE_MS = 60_000


@dataclass
class Shared:
    server: Server
    workflow: int
    group: int
    where: Path


@pytest.fixture
def shared(secured_server: Server, tmp_path: Path) -> Shared:
    """bob's pipeline, shared at read level with ml-team, where carol is a member."""
    group = ok_json(
        torc(secured_server, "alice", "-f", "json", "access-groups", "create", "ml-team")
    )
    added = torc(secured_server, "alice", "access-groups", "add-user", str(group["id"]), "carol")
    assert added.returncode == 0, added.stderr
    wf = create_workflow(secured_server, "bob", PIPELINE, tmp_path)
    share = torc(
        secured_server,
        "bob",
        *("access-groups", "add-workflow", str(wf), str(group["id"]), "--access", "read"),
    )
    assert share.returncode == 0, share.stderr
    return Shared(secured_server, wf, int(group["id"]), tmp_path)


def status_of(page: Page, job: str) -> Locator:
    row = page.locator("#jobs tbody tr").filter(
        has=page.locator("td.job-name").get_by_text(job, exact=True)
    )
    return row.locator("td.job-status")


def start_run(shared: Shared) -> subprocess.Popen[str]:
    """bob's real `torc run` of the shared workflow, in the background."""
    return subprocess.Popen(
        [str(BIN / "torc"), "run", str(shared.workflow), "--poll-interval", "0.5"],
        env=cli_env(shared.server, "bob"),
        cwd=shared.where,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def node_status(page: Page, job: str) -> Locator:
    return page.locator("g.node").filter(has_text=job).locator("text.node-status")


def test_the_job_graph_follows_a_run_in_place(page: Page, seen: Seen, shared: Shared) -> None:
    sign_in(page, shared.server, "carol")
    page.goto(f"{shared.server.base_url}/ui/workflows/{shared.workflow}/graph")
    expect(node_status(page, "report")).to_have_text("uninitialized")
    drawing = page.locator("svg#job-graph").element_handle()
    loads: list[str] = []
    page.on("load", lambda: loads.append(page.url))
    run = start_run(shared)
    try:
        expect(node_status(page, "prepare")).to_have_text("completed", timeout=LIVE_MS)
        expect(node_status(page, "report")).to_have_text("completed", timeout=LIVE_MS)
        expect(page.locator("#graph")).to_have_attribute("data-complete", "true")
        expect(page.locator("#graph-done")).to_have_text("3")
    finally:
        _, err = run.communicate(timeout=LIVE_MS / 1000)
    assert run.returncode == 0, err
    assert loads == []
    # the same drawing, its boxes updated in place: colour follows the status
    assert drawing is not None and drawing.evaluate("svg => svg.isConnected")
    box = page.locator("g.node").filter(has_text="report").locator("rect")
    expect(box).to_have_attribute("fill", "#d3efd3")
    assert seen.errors == []


def test_a_member_watches_a_run_without_reloading(page: Page, shared: Shared) -> None:
    sign_in(page, shared.server, "carol")
    page.goto(f"{shared.server.base_url}/ui/workflows/{shared.workflow}")
    expect(page.locator("#workflow-name")).to_have_text("nightly-pipeline")
    expect(status_of(page, "report")).not_to_have_text("completed")
    loads: list[str] = []
    page.on("load", lambda: loads.append(page.url))
    run = start_run(shared)
    try:
        # prepare's result shows while report is still to run; then everything is done
        expect(status_of(page, "prepare")).to_have_text("completed", timeout=LIVE_MS)
        expect(status_of(page, "report")).not_to_have_text("completed", timeout=1)
        expect(status_of(page, "report")).to_have_text("completed", timeout=LIVE_MS)
        expect(page.locator("#run-state")).to_have_text("complete", timeout=LIVE_MS)
        expect(page.locator("#progress-text")).to_have_text("3 of 3 jobs done")
        expect(page.locator("#results tbody tr[data-result]")).to_have_count(3)
    finally:
        _, err = run.communicate(timeout=LIVE_MS / 1000)
    assert run.returncode == 0, err
    assert loads == []  # htmx swapped the parts in: the page was never loaded again
    expect(page.locator("#live")).to_have_attribute("data-complete", "true")


def test_a_read_member_has_no_cancel_and_a_forged_one_is_refused(
    page: Page, seen: Seen, shared: Shared
) -> None:
    url = f"{shared.server.base_url}/ui/workflows/{shared.workflow}"
    sign_in(page, shared.server, "carol")
    page.goto(url)
    expect(page.locator("#workflow-name")).to_have_text("nightly-pipeline")
    expect(page.locator("#shares")).to_have_text("ml-team (read)")
    expect(page.get_by_role("button", name="Cancel workflow")).to_have_count(0)
    expect(page.locator("#workflow-actions")).to_have_count(0)
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    assert csrf
    forged = page.request.post(
        f"{url}/cancel",
        form={"csrf": csrf},
        headers={"Origin": shared.server.base_url},
        max_redirects=0,
    )
    assert forged.status == 403, forged.text()
    assert "Not allowed" in forged.text()
    with api(shared.server, "bob") as bob:
        found = bob.get(f"/torc-service/v1/workflows/{shared.workflow}").json()
    assert found["is_canceled"] is False
    # the owner has the button, asked to confirm first
    page.context.clear_cookies()
    sign_in(page, shared.server, "bob")
    page.goto(url)
    page.get_by_role("button", name="Cancel workflow").click()  # dismissed: nothing happens
    assert seen.dialogs and seen.dialogs[-1].startswith("confirm: Cancel this workflow?")
    expect(page.locator("#run-state")).not_to_have_text("canceled")
    seen.accept_dialogs = True
    page.get_by_role("button", name="Cancel workflow").click()
    expect(page.locator("#run-state")).to_have_text("canceled")


def test_the_owners_cancel_button_goes_when_the_run_ends(page: Page, shared: Shared) -> None:
    sign_in(page, shared.server, "bob")
    page.goto(f"{shared.server.base_url}/ui/workflows/{shared.workflow}")
    expect(page.get_by_role("button", name="Cancel workflow")).to_be_visible()
    loads: list[str] = []
    page.on("load", lambda: loads.append(page.url))
    run = start_run(shared)
    try:
        expect(page.locator("#run-state")).to_have_text("complete", timeout=LIVE_MS)
        expect(page.get_by_role("button", name="Cancel workflow")).to_have_count(0)
    finally:
        _, err = run.communicate(timeout=LIVE_MS / 1000)
    assert run.returncode == 0, err
    assert loads == []
