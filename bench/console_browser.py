"""The console's big pages in a real browser: does the job graph of 1,000 jobs stay responsive?

    python bench/console_browser.py [--workflows 100000] [--jobs 1000] [--repeat 5] [--data DIR]

The data are bench/console.py's (its `load` and `spec`): `--workflows` workflows bulk-loaded into
SQLite, then one workflow of `--jobs` jobs made through the API as `bench`, a quarter of them run,
so that its run is still going and its pages poll. With `--data DIR` the files are kept there, and
a DIR that already holds them (from this script or from `bench/console.py --data DIR`) is reused;
a reused run that has too few jobs left for this one's polls is reset and a quarter run again.

The server is a real `torc-server` process (auth required with an htpasswd file, access control
on); Playwright drives Debian's chromium (/usr/bin/chromium, headless, 1280 x 900), signed in as
`bench` through the form. For the workflow list, the workflow's page and its job graph, each of
`--repeat` loads (after a warm-up) gives from the Navigation Timing entry: server+transfer
(responseEnd - requestStart), first contentful paint, and the load event's end (total), with the
HTML's bytes and the page's element count. On the graph page the drawing's box is then scrolled
top to bottom and left to right, one step per animation frame: the longest gap between frames and
the longest main-thread task (PerformanceObserver 'longtask') measure how responsive it stays.

Then the run goes on: a thread plays runners through the API (every second it completes the
jobs it started the second before and claims and starts STEP more), so each poll has boxes and
rows to change. Watched meanwhile: `--repeat` htmx polls of the workflow page (the request,
htmx:beforeRequest to htmx:beforeSwap; the swap, to htmx:afterSwap; swap to the next frame
painted) and `--repeat` status polls of the graph page (console.js's fetch of
/graph/statuses, timed by wrapping window.fetch: request to the response and to the JSON parsed;
the update, JSON to the boxes changed, seen by a MutationObserver; update to the next frame
painted; how many boxes changed), each with the longest frame gap and task while it happened;
then the same status polls while the drawing is scrolled back and forth, one step a frame.
Figures are the median and the worst of the repeats, in ms. Targets: the graph page's load event
well under a second, and no frame gap over 100 ms while scrolling it or while a poll updates.
Writes bench/results/console_browser.txt.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, closing
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.console import V1, load, spec
from tests.api.test_execution import Runner, initialize, ok, result
from tests.conftest import Server, password_of, start_server, write_htpasswd

from teamgate.domain.jobs import DONE

CHROMIUM = os.environ.get("TEAMGATE_TEST_CHROMIUM", "/usr/bin/chromium")
USER = "bench"
LOAD_TARGET_MS = 1_000.0  # the graph page's load event, "well under a second"
GAP_TARGET_MS = 100.0  # the longest frame gap while scrolling, or while a poll swaps
SCROLL_STEP = 120  # pixels per frame: a brisk scroll
TICK = 1.0  # seconds between the changer's steps
STEP = 5  # jobs the changer starts (and, a tick later, completes) each tick
RESULTS = Path(__file__).resolve().parent / "results" / "console_browser.txt"

# Long tasks are only reported to observers registered before them: one from the first script.
WATCH_LONG_TASKS = """
window.__longtasks = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longtasks.push([e.startTime, e.duration]);
}).observe({type: "longtask", buffered: true});
"""

NAVIGATION = """() => {
  const n = performance.getEntriesByType("navigation")[0];
  const fcp = performance.getEntriesByName("first-contentful-paint")[0];
  const longest = Math.max(0, ...window.__longtasks.map(([, d]) => d));
  return {server: n.responseEnd - n.requestStart, fcp: fcp ? fcp.startTime : NaN,
          load: n.loadEventEnd, bytes: n.decodedBodySize,
          nodes: document.getElementsByTagName("*").length, longtask: longest};
}"""

SCROLL = """async (step) => {
  const box = document.getElementById("graph");
  box.scrollTop = 0; box.scrollLeft = 0;
  const frame = () => new Promise((r) => requestAnimationFrame(r));
  await frame(); await frame();
  const times = [], since = performance.now();
  for (const [axis, end] of [["scrollTop", box.scrollHeight - box.clientHeight],
                             ["scrollLeft", box.scrollWidth - box.clientWidth]]) {
    while (box[axis] < end) {
      box[axis] = Math.min(end, box[axis] + step);
      times.push(await frame());
    }
  }
  times.push(await frame());
  const gaps = times.slice(1).map((t, i) => t - times[i]);
  const tasks = window.__longtasks.filter(([s]) => s >= since).map(([, d]) => d);
  return {frames: times.length, gap: Math.max(0, ...gaps), longtask: Math.max(0, ...tasks),
          height: box.scrollHeight, width: box.scrollWidth};
}"""

POLLS = """async ([count, timeout]) => {
  const polls = [], times = [];
  let current = null, running = true;
  const frame = (t) => { times.push(t); if (running) requestAnimationFrame(frame); };
  requestAnimationFrame(frame);
  const on = (name, fn) => document.addEventListener(name, fn, true);
  await new Promise((resolve) => {
    setTimeout(resolve, timeout);
    on("htmx:beforeRequest", () => { current = {start: performance.now()}; });
    on("htmx:beforeSwap", (e) => {
      if (!current) return;
      current.swap = performance.now();
      current.bytes = e.detail.xhr.responseText.length;
    });
    on("htmx:afterSwap", () => {
      if (!current || current.swapped) return;
      const poll = current;
      current = null;
      poll.swapped = performance.now();
      requestAnimationFrame(() => setTimeout(() => {
        poll.painted = performance.now();
        polls.push(poll);
        if (polls.length >= count) resolve();
      }, 0));
    });
  });
  running = false;
  return polls.map((p) => {
    const during = (s) => s >= p.start - 1 && s <= p.painted + 1;
    const tasks = window.__longtasks.filter(([s]) => during(s)).map(([, d]) => d);
    const inside = times.filter((t) => t >= p.swap - 50 && t <= p.painted + 50);
    const gaps = inside.slice(1).map((t, i) => t - inside[i]);
    return {request: p.swap - p.start, swap: p.swapped - p.swap, paint: p.painted - p.swap,
            bytes: p.bytes, longtask: Math.max(0, ...tasks), gap: Math.max(0, ...gaps)};
  });
}"""


# The graph page's own polls (console.js fetches /graph/statuses and updates the boxes that
# changed): window.fetch is wrapped to time the request and the JSON, a MutationObserver on the
# drawing sees the update end (its callback runs once the update's task is over). With `step`,
# the drawing's box is scrolled back and forth by `step` px a frame all along.
STATUS_POLLS = """async ([count, timeout, step]) => {
  const box = document.getElementById("graph");
  const polls = [], times = [];
  let current = null, running = true, finish = null;
  [box.scrollTop, box.scrollLeft] = [box.scrollHeight / 2, box.scrollWidth / 4];
  const place = [box.scrollTop, box.scrollLeft];  // as the browser rounded them
  const ends = [box.scrollHeight - box.clientHeight, box.scrollWidth - box.clientWidth];
  const ways = [1, 1];
  const frame = (t) => {
    times.push(t);
    if (step) {
      ["scrollTop", "scrollLeft"].forEach((axis, i) => {
        const next = box[axis] + ways[i] * step;
        if (next <= 0 || next >= ends[i]) ways[i] = -ways[i];
        box[axis] = Math.max(0, Math.min(ends[i], next));
      });
    }
    if (running) requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  const original = window.fetch;
  window.fetch = async (url, options) => {
    if (!String(url).includes("/graph/statuses")) return original(url, options);
    const poll = {start: performance.now()};
    const answer = await original(url, options);
    poll.response = performance.now();
    const parse = answer.json.bind(answer);
    answer.json = async () => {
      const found = await parse();
      poll.json = performance.now();
      poll.jobs = Object.keys(found.statuses).length;
      current = poll;
      return found;
    };
    return answer;
  };
  const watcher = new MutationObserver((records) => {
    if (!current) return;
    const poll = current;
    current = null;
    poll.updated = performance.now();
    poll.changed = records.filter((r) => r.attributeName === "data-status").length;
    requestAnimationFrame(() => setTimeout(() => {
      poll.painted = performance.now();
      polls.push(poll);
      if (polls.length >= count) finish();
    }, 0));
  });
  watcher.observe(box, {subtree: true, attributes: true, childList: true, characterData: true});
  const since = performance.now();
  await new Promise((resolve) => { finish = resolve; setTimeout(resolve, timeout); });
  running = false;
  watcher.disconnect();
  window.fetch = original;
  const kept = !step && box.scrollTop === place[0] && box.scrollLeft === place[1];
  const sizes = performance.getEntriesByType("resource")
    .filter((e) => e.name.includes("/graph/statuses")).map((e) => e.decodedBodySize);
  const gapsIn = (from, to) => {
    const inside = times.filter((t) => t >= from && t <= to);
    return Math.max(0, ...inside.slice(1).map((t, i) => t - inside[i]));
  };
  const tasksIn = (from, to) => Math.max(0, ...window.__longtasks
    .filter(([s]) => s >= from - 1 && s <= to + 1).map(([, d]) => d));
  const last = times[times.length - 1];
  return {
    kept, frames: times.length, gap: gapsIn(since, last), longtask: tasksIn(since, last),
    polls: polls.map((p) => ({
      response: p.response - p.start, fetch: p.json - p.start, update: p.updated - p.json,
      paint: p.painted - p.json, changed: p.changed, jobs: p.jobs,
      bytes: sizes.length ? sizes[sizes.length - 1] : NaN,
      gap: gapsIn(p.start, p.painted + 50), longtask: tasksIn(p.start, p.painted)})),
  };
}"""


def remaining(api: httpx.Client, workflow_id: int) -> tuple[int, int]:
    """The run's id and how many of its jobs are not done yet."""
    state = ok(api.get(f"{V1}/workflows/{workflow_id}/status"))
    done = sum(state["jobs_by_status"].get(s, 0) for s in DONE)
    return int(state["run_id"]), int(state["total_jobs"]) - done


def run_a_quarter(api: httpx.Client, workflow_id: int, jobs: int, run_id: int) -> None:
    runner = Runner(api, workflow_id)
    ran = 0
    while ran < jobs // 4 and (claimed := runner.claim(limit=jobs // 4 - ran)):
        for job in claimed:
            runner.run(job, rc=1 if job["id"] % 10 == 0 else 0, run_id=run_id)
        ran += len(claimed)


def prepared(server: Server, jobs: int, needed: int) -> tuple[int, str]:
    """The id of `bench`'s workflow "big" with at least `needed` jobs left to run (the one
    already there, reset and a quarter run again if it has too few left, or a new one with a
    quarter of its jobs run), and what was done."""
    api = httpx.Client(base_url=server.base_url, auth=(USER, password_of(USER)), timeout=60)
    with api:
        found = api.get(f"{V1}/workflows", params={"user": USER, "name": "big", "limit": 1})
        assert found.status_code == 200, found.text
        if found.json()["items"]:
            workflow_id = int(found.json()["items"][0]["id"])
            run_id, left = remaining(api, workflow_id)
            if left >= needed:
                return workflow_id, f"found, {left} jobs left"
            ok(api.post(f"{V1}/workflows/{workflow_id}/reset_job_status"))
            run_id = int(
                ok(api.post(f"{V1}/workflows/{workflow_id}/reset_status", params={"force": True}))[
                    "run_id"
                ]
            )
            initialize(api, workflow_id)
            run_a_quarter(api, workflow_id, jobs, run_id)
            return workflow_id, f"found with {left} jobs left: reset and a quarter run again"
        created = api.post(f"{V1}/workflow_specs", json=spec(jobs))
        assert created.status_code == 200, created.text
        workflow_id = int(created.json()["id"])
        initialize(api, workflow_id)
        run_a_quarter(api, workflow_id, jobs, 1)
        return workflow_id, "made, a quarter run"


class Changer:
    """Runners at work, through the API, in a thread: every TICK s the jobs started the tick
    before complete and STEP more are claimed and started, so the pages' polls find new
    statuses (ready to running, running to completed, blocked to ready)."""

    def __init__(self, server: Server, workflow_id: int) -> None:
        self.api = httpx.Client(
            base_url=server.base_url, auth=(USER, password_of(USER)), timeout=60
        )
        self.workflow_id = workflow_id
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.work, daemon=True)
        self.started = self.completed = 0
        self.error: BaseException | None = None

    def __enter__(self) -> Changer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.api.close()
        if self.error is not None:
            raise self.error

    def work(self) -> None:
        try:
            run_id, _left = remaining(self.api, self.workflow_id)
            runner = Runner(self.api, self.workflow_id)
            while not self.stop.is_set():
                running = runner.claim(limit=STEP)
                for job in running:
                    ok(self.api.put(f"{V1}/jobs/{job['id']}/start_job/{run_id}/{runner.node}"))
                self.started += len(running)
                self.stop.wait(TICK)
                for job in running:  # also on stop: none left running for the next reuse
                    url = f"{V1}/jobs/{job['id']}/complete_job/completed/{run_id}"
                    ok(self.api.post(url, json=result(job, runner.node, 0, run_id)))
                self.completed += len(running)
        except BaseException as error:  # reported by __exit__
            self.error = error


def sign_in(page: Page, server: Server) -> None:
    page.goto(f"{server.base_url}/ui/sign-in")
    page.get_by_label("User name").fill(USER)
    page.get_by_label("Password").fill(password_of(USER))
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text(f"Signed in as {USER}").wait_for()


def navigate(page: Page, url: str) -> dict[str, float]:
    page.goto(url, wait_until="load")
    page.wait_for_function("() => performance.getEntriesByType('navigation')[0].loadEventEnd > 0")
    page.wait_for_function(
        "() => performance.getEntriesByName('first-contentful-paint').length > 0"
    )
    figures: dict[str, float] = page.evaluate(NAVIGATION)
    return figures


def summary(what: str, values: list[float], unit: str = "ms") -> str:
    return f"  {what:34} {statistics.median(values):9.1f} {max(values):9.1f}  {unit}"


def loads(
    page: Page, server: Server, workflow_id: int, repeat: int
) -> tuple[list[str], dict[str, float]]:
    """The loads' lines (and the graph's scroll), and the figures the verdict is about."""
    pages = {
        "workflow list": "/ui/workflows",
        f"workflow page (id {workflow_id})": f"/ui/workflows/{workflow_id}",
        "job graph page": f"/ui/workflows/{workflow_id}/graph",
    }
    lines = [f"  {'':34} {'median':>9} {'worst':>9}"]
    verdict: dict[str, float] = {}
    for what, path in pages.items():
        navigate(page, server.base_url + path)  # warm-up
        found = [navigate(page, server.base_url + path) for _ in range(repeat)]
        lines.append(f"{what}: GET {path}")
        lines.append(summary("server+transfer", [n["server"] for n in found]))
        lines.append(summary("first contentful paint", [n["fcp"] for n in found]))
        lines.append(summary("load event end (total)", [n["load"] for n in found]))
        lines.append(summary("longest task while loading", [n["longtask"] for n in found]))
        lines.append(summary("HTML", [n["bytes"] / 1024 for n in found], "KiB"))
        lines.append(summary("elements", [n["nodes"] for n in found], ""))
        if path.endswith("/graph"):
            verdict["graph load"] = max(n["load"] for n in found)
            scrolls = []
            for _ in range(repeat):
                navigate(page, server.base_url + path)
                scrolls.append(page.evaluate(SCROLL, SCROLL_STEP))
            box = scrolls[0]
            lines.append(
                f"  scrolled its {box['width']} x {box['height']} px drawing, "
                f"{SCROLL_STEP} px a frame ({box['frames']} frames; no poll meanwhile):"
            )
            lines.append(summary("longest frame gap", [s["gap"] for s in scrolls]))
            lines.append(summary("longest task", [s["longtask"] for s in scrolls]))
            verdict["scroll gap"] = max(s["gap"] for s in scrolls)
    return lines, verdict


def live(
    page: Page, server: Server, workflow_id: int, repeat: int
) -> tuple[list[str], dict[str, float]]:
    """The polls' lines while the run goes on (a Changer at work), and their worst frame gaps."""
    lines: list[str] = []
    verdict: dict[str, float] = {}
    path = f"/ui/workflows/{workflow_id}"
    navigate(page, server.base_url + path)
    assert page.evaluate("!!document.querySelector('[hx-trigger^=\"every\"]')"), "no htmx poll"
    polls = page.evaluate(POLLS, [repeat, (repeat + 2) * 4_000])
    assert len(polls) == repeat, f"{len(polls)} of {repeat} polls seen on {path}"
    lines.append(f"workflow page: {repeat} htmx polls (every 2 s) of GET {path}:")
    lines.append(summary("request (to the response)", [p["request"] for p in polls]))
    lines.append(summary("swap (DOM replaced)", [p["swap"] for p in polls]))
    lines.append(summary("swap to next frame painted", [p["paint"] for p in polls]))
    lines.append(summary("longest frame gap", [p["gap"] for p in polls]))
    lines.append(summary("longest task", [p["longtask"] for p in polls]))
    lines.append(summary("fragment", [p["bytes"] / 1024 for p in polls], "KiB"))
    verdict["workflow page htmx polls"] = max(p["gap"] for p in polls)
    path = f"/ui/workflows/{workflow_id}/graph"
    for scroll in (0, SCROLL_STEP):
        navigate(page, server.base_url + path)
        assert page.evaluate("!!document.querySelector('#graph[data-statuses]')"), "no poll"
        seen = page.evaluate(STATUS_POLLS, [repeat, (repeat + 2) * 4_000, scroll])
        polls = seen["polls"]
        assert len(polls) == repeat, f"{len(polls)} of {repeat} status polls seen on {path}"
        if not scroll:
            place = "its scroll place kept" if seen["kept"] else "its scroll place LOST"
            lines.append(f"job graph page: {repeat} status polls (every 3 s) of {path}/statuses")
            lines.append(f"  (console.js; {place}):")
        else:
            lines.append(
                f"  the same while its drawing is scrolled back and forth, {scroll} px a frame "
                f"({seen['frames']} frames):"
            )
        lines.append(summary("request (to the response)", [p["response"] for p in polls]))
        lines.append(summary("fetch (request to the JSON)", [p["fetch"] for p in polls]))
        lines.append(summary("update (JSON to boxes changed)", [p["update"] for p in polls]))
        lines.append(summary("update to next frame painted", [p["paint"] for p in polls]))
        lines.append(summary("longest frame gap in a poll", [p["gap"] for p in polls]))
        lines.append(summary("longest task in a poll", [p["longtask"] for p in polls]))
        lines.append(
            summary("boxes changed", [p["changed"] for p in polls], f"of {polls[0]['jobs']}")
        )
        lines.append(summary("JSON", [p["bytes"] / 1024 for p in polls], "KiB"))
        lines.append(f"  {'longest frame gap, all along':34} {seen['gap']:9.1f} {'':9}  ms")
        lines.append(f"  {'longest task, all along':34} {seen['longtask']:9.1f} {'':9}  ms")
        what = "graph status polls while scrolling" if scroll else "graph status polls"
        verdict[what] = max(p["gap"] for p in polls)
        if scroll:
            verdict["scroll gap live"] = seen["gap"]
    return lines, verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workflows", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--data", type=Path, default=None, help="keep (or reuse) the files here")
    args = parser.parse_args()
    with ExitStack() as stack:
        root = args.data or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        root.mkdir(parents=True, exist_ok=True)
        path = root / "console.db"
        reused = path.exists()
        if not reused:
            load(path, args.workflows)
        with closing(sqlite3.connect(path)) as conn:
            (count,) = conn.execute("SELECT count(*) FROM workflow").fetchone()
        auth = write_htpasswd(root / "htpasswd", ["alice", USER])
        server = start_server(
            root / "server",
            "--database",
            str(path),
            "--auth-file",
            str(auth),
            "--require-auth",
            "--enforce-access-control",
            "--admin-user",
            "alice",
        )
        stack.callback(server.stop)
        start = time.perf_counter()
        # What the Changer runs: about 2 s a workflow page poll and 3 s a graph poll (two rounds).
        seconds = (args.repeat + 2) * (2 + 3 * 2) + 10
        workflow_id, prepared_how = prepared(server, args.jobs, STEP * int(seconds / TICK))
        made = time.perf_counter() - start
        driver = stack.enter_context(sync_playwright())
        browser = driver.chromium.launch(executable_path=CHROMIUM)
        stack.callback(browser.close)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_init_script(WATCH_LONG_TASKS)
        page = context.new_page()
        sign_in(page, server)
        lines, verdict = loads(page, server, workflow_id, args.repeat)
        with Changer(server, workflow_id) as changer:
            start = time.perf_counter()
            more, during = live(page, server, workflow_id, args.repeat)
            busy = time.perf_counter() - start
        lines += [
            "",
            f"while the run goes on: a thread started {changer.started} jobs and completed "
            f"{changer.completed} in {busy:.0f} s ({STEP} a second, each running a second)",
            f"  {'':34} {'median':>9} {'worst':>9}",
            *more,
        ]
        verdict |= during
    load_avg = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    data = f"{count:,} workflows ({'reused' if reused else 'loaded'})"
    head = [
        f"console in a browser: {data}; workflow {workflow_id} of {args.jobs:,} jobs "
        f"({prepared_how}; {made:.1f} s); "
        "a real torc-server (SQLite, auth + access control),",
        f"headless chromium at 1280 x 900 signed in as {USER}; {args.repeat} repeats after a "
        f"warm-up; load average {load_avg}",
        "",
    ]
    in_polls = {k: v for k, v in verdict.items() if "polls" in k}
    worst = max(in_polls, key=in_polls.__getitem__)
    scrolling = max(verdict["scroll gap"], verdict["scroll gap live"])

    def against(value: float, target: float) -> str:
        return f"{'under' if value < target else 'OVER'} the {target:.0f} ms target"

    tail = [
        "",
        f"graph page load event: worst {verdict['graph load']:.0f} ms "
        f"({against(verdict['graph load'], LOAD_TARGET_MS)})",
        f"longest frame gap during a poll: {in_polls[worst]:.0f} ms ({worst}; "
        f"{against(in_polls[worst], GAP_TARGET_MS)})",
        f"longest frame gap scrolling the graph: {verdict['scroll gap']:.0f} ms without polls, "
        f"{verdict['scroll gap live']:.0f} ms with polls going on, in or out of them "
        f"({against(scrolling, GAP_TARGET_MS)})",
    ]
    text = "\n".join(head + lines + tail) + "\n"
    print(text, end="")
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
