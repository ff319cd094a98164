"""The console's Workflows section in process: one workflow's page (jobs, counts, results,
events), its job graph, the live fragment, cancel and reset for those who may, escaping.

bob owns the workflows; carol is in `readers` (a read-level share), dave in `writers` (a
write-level share); alice is a system administrator; nobody else is shared anything.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from teamgate.web.ui import job_graph
from tests.api.test_execution import Runner, initialize
from tests.console.helpers import sign_in
from tests.inprocess import App

V1 = "/torc-service/v1"
XSS_NAME = "<img src=x onerror=alert(1)>"
XSS_COMMAND = "echo '<script>alert(2)</script>'"
DIAMOND = [
    {"name": "a", "command": XSS_COMMAND},
    {"name": "b", "command": "true", "depends_on": ["a"]},
    {"name": "c", "command": "true", "depends_on": ["a"]},
    {"name": "d", "command": "true", "depends_on": ["b", "c"]},
]


def ok(response: httpx.Response) -> Any:
    assert response.is_success, (response.request.url, response.status_code, response.text)
    return response.json() if response.content else None


@pytest.fixture
def world(secured_app: App) -> dict[str, int]:
    """bob's workflow (the diamond, named XSS_NAME) shared with readers (read, carol) and
    writers (write, dave); and bob's unshared workflow `private`."""
    alice, bob = secured_app.client("alice"), secured_app.client("bob")
    ids = {}
    for group, member in (("readers", "carol"), ("writers", "dave")):
        ids[group] = ok(alice.post(f"{V1}/access_groups", json={"name": group}))["id"]
        body = {"user_name": member, "role": "member"}
        ok(alice.post(f"{V1}/access_groups/{ids[group]}/members", json=body))
    spec = {"name": XSS_NAME, "description": "diamond", "jobs": DIAMOND}
    ids["wf"] = int(ok(bob.post(f"{V1}/workflow_specs", json=spec))["id"])
    for group, level in (("readers", "read"), ("writers", "write")):
        url = f"{V1}/workflows/{ids['wf']}/access_groups/{ids[group]}"
        ok(bob.post(url, json={"access": level}))
    private = {"name": "private", "jobs": [{"name": "solo", "command": "true"}]}
    ids["private"] = int(ok(bob.post(f"{V1}/workflow_specs", json=private))["id"])
    return ids


def statuses(page: str) -> dict[int, str]:
    """Job id -> status, as the jobs table shows them."""
    found = re.findall(r'<td class="job-status" data-job="(\d+)" data-status="(\w+)">', page)
    return {int(job): status for job, status in found}


def test_owner_sees_jobs_counts_progress_results_events_and_graph(
    secured_app: App, world: dict[str, int]
) -> None:
    bob = secured_app.client("bob")
    wf = world["wf"]
    initialize(bob, wf)
    runner = Runner(bob, wf)
    (first,) = runner.claim()
    runner.run(first)
    viewer = sign_in(secured_app, "bob")
    page = viewer.get(f"/ui/workflows/{wf}")
    assert page.status_code == 200, page.text
    text = page.text
    assert sorted(statuses(text).values()) == ["blocked", "completed", "ready", "ready"]
    completed = re.search(r'<li data-status="completed">.*?</li>', text)
    assert completed and '<span class="count">1</span>' in completed[0]
    assert '<progress id="progress" max="4" value="1">' in text
    assert '<p id="progress-text">1 of 4 jobs done</p>' in text
    assert '<strong id="run-state">running</strong>' in text
    assert f'hx-get="/ui/workflows/{wf}/live"' in text and 'hx-trigger="every 2s"' in text
    assert "readers (read), writers (write)" in text  # the owner sees the levels
    results = re.search(r'<table id="results".*?</table>', text, re.S)
    assert results and ">a<" in results[0] and ">0<" in results[0]  # job a, return code 0
    events = re.search(r'<table id="events".*?</table>', text, re.S)
    assert events and "job_completed" in events[0] and "initialized" in events[0]
    assert 'id="cancel-workflow"' in text and 'id="reset-workflow"' in text
    graph = viewer.get(f"/ui/workflows/{wf}/graph")
    assert graph.status_code == 200
    nodes = re.findall(
        r'<g id="node-(\d+)" class="node" data-job="\d+" data-status="(\w+)"', graph.text
    )
    assert sorted(s for _, s in nodes) == ["blocked", "completed", "ready", "ready"]
    edges = re.search(r'<path id="job-graph-edges" d="([^"]+)"', graph.text)
    assert edges and edges[1].count("M") == 4  # the four dependencies
    assert f'transform="translate({job_graph.MARGIN} {job_graph.MARGIN})"' in graph.text
    assert '<text class="node-status" x="8" y="32">completed</text>' in graph.text


def test_status_filter_and_bad_filter(secured_app: App, world: dict[str, int]) -> None:
    initialize(secured_app.client("bob"), world["wf"])
    viewer = sign_in(secured_app, "bob")
    page = viewer.get(f"/ui/workflows/{world['wf']}", params={"status": "blocked"})
    assert sorted(statuses(page.text).values()) == ["blocked", "blocked", "blocked"]
    bad = viewer.get(f"/ui/workflows/{world['wf']}", params={"status": "nope"})
    assert bad.status_code == 400 and "not a job status" in bad.text


def test_live_fragment_follows_the_run_and_stops_when_complete(
    secured_app: App, world: dict[str, int]
) -> None:
    bob = secured_app.client("bob")
    wf = world["wf"]
    viewer = sign_in(secured_app, "carol")  # a read-level member watches
    drawn = viewer.get(f"/ui/workflows/{wf}/graph").text
    assert f'data-statuses="/ui/workflows/{wf}/graph/statuses"' in drawn
    before = viewer.get(f"/ui/workflows/{wf}/graph/statuses").json()
    assert before["complete"] is False and set(before["statuses"].values()) == {"uninitialized"}
    live = viewer.get(f"/ui/workflows/{wf}/live", headers={"HX-Request": "true"})
    assert live.status_code == 200
    assert live.text.lstrip().startswith("{#") is False and "<html" not in live.text
    assert set(statuses(live.text).values()) == {"uninitialized"}
    initialize(bob, wf)
    Runner(bob, wf).drain()
    done = viewer.get(f"/ui/workflows/{wf}/live", headers={"HX-Request": "true"})
    assert done.status_code == 286  # htmx stops polling
    assert set(statuses(done.text).values()) == {"completed"}
    assert "hx-trigger" not in done.text
    assert '<strong id="run-state">complete</strong>' in done.text
    after = viewer.get(f"/ui/workflows/{wf}/graph/statuses").json()
    assert after == {
        "complete": True,
        "done": 4,
        "total": 4,
        "statuses": {job: "completed" for job in before["statuses"]},
    }
    assert "data-statuses" not in viewer.get(f"/ui/workflows/{wf}/graph").text  # nothing to follow


def test_outsider_is_refused_everywhere(secured_app: App, world: dict[str, int]) -> None:
    viewer = sign_in(secured_app, "carol")
    listed = viewer.get("/ui/workflows")
    assert f'href="/ui/workflows/{world["private"]}"' not in listed.text
    assert f'href="/ui/workflows/{world["wf"]}"' in listed.text  # shared with her group
    for suffix in ("", "/graph", "/live", "/graph/statuses"):
        page = viewer.get(f"/ui/workflows/{world['private']}{suffix}")
        assert page.status_code == 403, suffix
        assert "Not allowed" in page.text and "solo" not in page.text and "private" not in page.text


def test_read_member_sees_no_controls_and_a_forged_cancel_is_refused(
    secured_app: App, world: dict[str, int]
) -> None:
    bob = secured_app.client("bob")
    wf = world["wf"]
    initialize(bob, wf)
    viewer = sign_in(secured_app, "carol")
    page = viewer.get(f"/ui/workflows/{wf}")
    assert page.status_code == 200
    assert "cancel-workflow" not in page.text and "reset-workflow" not in page.text
    team = re.search(r'<a href="(/ui/teams/\d+)">readers</a> \(read\)', page.text)
    assert team is not None, "the share names its group, linked to the team page"
    assert viewer.get(team.group(1)).status_code == 200
    for path in ("cancel", "reset"):
        forged = viewer.post(f"/ui/workflows/{wf}/{path}")
        assert forged.status_code == 403 and "Not allowed" in forged.text
    assert ok(bob.get(f"{V1}/workflows/{wf}/is_complete")) == {
        "is_complete": False,
        "is_canceled": False,
    }
    assert set(statuses(viewer.get(f"/ui/workflows/{wf}").text).values()) == {"ready", "blocked"}


def test_write_member_cancels_and_resets(secured_app: App, world: dict[str, int]) -> None:
    bob = secured_app.client("bob")
    wf = world["wf"]
    initialize(bob, wf)
    runner = Runner(bob, wf)
    (first,) = runner.claim()
    ok(bob.put(f"{V1}/jobs/{first['id']}/start_job/1/{runner.node}"))
    viewer = sign_in(secured_app, "dave")
    assert 'id="cancel-workflow"' in viewer.get(f"/ui/workflows/{wf}").text
    canceled = viewer.post(f"/ui/workflows/{wf}/cancel")
    back = f"/ui/workflows/{wf}?done=canceled"
    assert canceled.status_code == 303 and canceled.headers["location"] == back
    assert ok(bob.get(f"{V1}/workflows/{wf}/is_complete"))["is_canceled"] is True
    page = viewer.get(back).text
    assert "The workflow was canceled" in page
    assert 'id="cancel-workflow"' not in page and 'id="reset-workflow"' in page  # the run is over
    assert statuses(page)[first["id"]] == "canceled"
    assert '<strong id="run-state">canceled</strong>' in page and "hx-trigger" not in page
    reset = viewer.post(f"/ui/workflows/{wf}/reset", {"which": "all"})
    assert reset.status_code == 303 and reset.headers["location"].endswith("?done=reset")
    assert set(statuses(viewer.get(f"/ui/workflows/{wf}").text).values()) == {"uninitialized"}
    assert ok(bob.get(f"{V1}/workflows/{wf}/status"))["run_id"] == 2


def test_names_and_commands_are_escaped(secured_app: App, world: dict[str, int]) -> None:
    viewer = sign_in(secured_app, "bob")
    escaped = "&lt;img src=x onerror=alert(1)&gt;"
    for path in (
        "/ui/workflows",
        f"/ui/workflows/{world['wf']}",
        f"/ui/workflows/{world['wf']}/graph",
    ):
        text = viewer.get(path).text
        assert escaped in text, path
        assert XSS_NAME not in text, path
        assert "<script>alert" not in text, path
    page = viewer.get(f"/ui/workflows/{world['wf']}").text
    assert "<code>echo &#39;&lt;script&gt;alert(2)&lt;/script&gt;&#39;</code>" in page


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/ui/workflows/abc", 400),
        ("/ui/workflows/999999", 404),
        ("/ui/workflows/999999/graph", 404),
        ("/ui/workflows/999999/live", 404),
        ("/ui/workflows/-1", 400),
        ("/ui/workflows/99999999999999999999", 400),
        ("/ui/workflows/1?offset=-5", 400),
    ],
)
def test_bad_ids_give_error_pages(secured_app: App, path: str, status: int) -> None:
    viewer = sign_in(secured_app, "bob")
    page = viewer.get(path)
    assert page.status_code == status, page.text
    assert "<!doctype html>" in page.text


def test_forged_cancel_of_an_unknown_workflow_is_404(secured_app: App) -> None:
    viewer = sign_in(secured_app, "bob")
    assert viewer.post("/ui/workflows/999999/cancel").status_code == 404


def test_list_shows_job_summary(secured_app: App, world: dict[str, int]) -> None:
    bob = secured_app.client("bob")
    initialize(bob, world["wf"])
    Runner(bob, world["wf"]).drain(fail=frozenset({"b"}))
    text = sign_in(secured_app, "bob").get("/ui/workflows").text
    row = re.search(
        rf'<td class="job-summary" data-workflow="{world["wf"]}">(.*?)</td>', text, re.S
    )
    assert row, text
    # d runs after b failed (cancel_on_blocking_job_failure is off by default)
    assert row[1] == '4/4 done, <span class="status status-failed">1 failed</span>'
    assert '<span class="muted">no jobs</span>' not in text


def test_graph_layers_follow_dependency_depth() -> None:
    jobs = [(1, "a", "completed"), (2, "b", "ready"), (3, "c", "ready"), (4, "d", "blocked")]
    edges = [(2, 1), (3, 1), (4, 2), (4, 3)]
    drawn = job_graph.layout(jobs, edges)
    assert {n.name: n.layer for n in drawn.nodes} == {"a": 0, "b": 1, "c": 1, "d": 2}
    assert drawn.layers == 3 and drawn.edge_count == 4 and drawn.edges.count("M") == 4
    assert len({(n.x, n.y) for n in drawn.nodes}) == 4  # no two boxes on one spot
    # a cycle (never stored: the server refuses them) ends the layout instead of looping
    cyclic = job_graph.layout(jobs[:2], [(1, 2), (2, 1)])
    assert [n.layer for n in cyclic.nodes] == [0, 0]
    long = "x" * 100
    assert job_graph.layout([(1, long, "ready")], []).nodes[0].label == "x" * 25 + "…"


def test_graph_says_what_it_left_out(
    secured_app: App, world: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job_graph, "MAX_NODES", 2)
    text = sign_in(secured_app, "bob").get(f"/ui/workflows/{world['wf']}/graph").text
    assert 'id="graph-limits"' in text and "the first 2 of 4 jobs" in text
    assert len(re.findall(r'<g id="node-\d+"', text)) == 2


def test_who_can_reach_is_offered_to_the_owner_not_to_a_reader(
    secured_app: App, world: dict[str, int]
) -> None:
    wf = world["wf"]
    owner = sign_in(secured_app, "bob").get(f"/ui/workflows/{wf}").text
    assert f'id="who-link" href="/ui/access?workflow={wf}"' in owner
    reader = sign_in(secured_app, "carol").get(f"/ui/workflows/{wf}").text
    assert 'id="who-link"' not in reader
    assert sign_in(secured_app, "carol").get(f"/ui/access?workflow={wf}").status_code == 403


def test_sharing_from_the_workflow_page(secured_app: App, world: dict[str, int]) -> None:
    """bob (owner, in no group) is offered no group to share with; once in `writers` he shares
    his workflow with it at admin, changes that to read, then removes the share."""
    wf, writers = world["wf"], world["writers"]
    bob = sign_in(secured_app, "bob")
    page = bob.get(f"/ui/workflows/{wf}").text
    assert 'id="sharing"' in page and 'id="share-workflow"' not in page
    assert "an administrator can add you to one" in page
    body = {"user_name": "bob", "role": "member"}
    ok(secured_app.client("alice").post(f"{V1}/access_groups/{writers}/members", json=body))
    assert f'<option value="{writers}">writers</option>' in bob.get(f"/ui/workflows/{wf}").text
    url = f"/ui/workflows/{wf}/shares"
    for level in ("admin", "read"):
        done = bob.post(url, {"group": writers, "access": level})
        assert done.status_code == 303 and "done=shared" in done.headers["location"]
        listed = ok(secured_app.client("bob").get(f"{V1}/workflows/{wf}/access_groups"))
        assert {g["name"]: g["access"] for g in listed["items"]}["writers"] == level
    removed = bob.post(f"{url}/remove", {"group": writers})
    assert removed.status_code == 303
    listed = ok(secured_app.client("bob").get(f"{V1}/workflows/{wf}/access_groups"))
    assert "writers" not in {g["name"] for g in listed["items"]}


def test_a_reader_sees_no_sharing_and_cannot_forge_it(
    secured_app: App, world: dict[str, int]
) -> None:
    wf = world["wf"]
    carol = sign_in(secured_app, "carol")  # read-level member of `readers`
    assert 'id="sharing"' not in carol.get(f"/ui/workflows/{wf}").text
    for url, form in (
        (f"/ui/workflows/{wf}/shares", {"group": world["readers"], "access": "admin"}),
        (f"/ui/workflows/{wf}/shares/remove", {"group": world["readers"]}),
    ):
        refused = carol.post(url, form)
        assert refused.status_code == 403 and "Not allowed" in refused.text
    listed = ok(secured_app.client("alice").get(f"{V1}/workflows/{wf}/access_groups"))
    assert {g["name"]: g["access"] for g in listed["items"]}["readers"] == "read"
