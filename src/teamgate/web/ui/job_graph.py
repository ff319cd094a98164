"""A workflow's job graph laid out for an SVG drawing: layers by dependency depth.

Pure layout (no I/O): jobs and their dependencies in, boxes and edges with coordinates out.
A job's layer is the length of the longest chain of blockers before it, so every edge points
from one layer to a later one; within a layer, jobs sit near the average row of their blockers
(one pass), which keeps most edges short. The template draws it without script.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

NODE_WIDTH = 190
NODE_HEIGHT = 40
COLUMN_GAP = 60
ROW_GAP = 12
MARGIN = 10
NAME_CHARS = 26  # a longer name is cut (the full name is the node's <title>)
MAX_NODES = 2_000  # more are not drawn: the page says so
MAX_EDGES = 8_000

# Status → (fill, stroke): SVG presentation attributes; the status is also written as text.
COLOURS: Mapping[str, tuple[str, str]] = {
    "uninitialized": ("#ffffff", "#8a8a8a"),
    "blocked": ("#eeeeee", "#777777"),
    "ready": ("#e3eefc", "#4a78b5"),
    "pending": ("#fff1c7", "#a57f00"),
    "running": ("#cfe3fb", "#1f5fae"),
    "completed": ("#d3efd3", "#2d7d2d"),
    "failed": ("#f8cfcf", "#b02a2a"),
    "canceled": ("#e6dcf2", "#6a4a99"),
    "terminated": ("#f3d3e6", "#9c2f6e"),
    "disabled": ("#f4f4f4", "#b0b0b0"),
    "pending_failed": ("#fbdcb8", "#b0601a"),
}
UNKNOWN = ("#ffffff", "#444444")


class Node(NamedTuple):
    """A job's box; a tuple, so that the template unpacks it (the fastest way Jinja reads)."""

    id: int
    name: str  # the full name (the <title>)
    label: str  # the name as drawn, cut to NAME_CHARS
    status: str
    layer: int
    x: int
    y: int
    fill: str
    stroke: str


@dataclass(frozen=True, slots=True)
class Layout:
    nodes: list[Node]
    edges: str  # one SVG path: a curve from each blocker's right side to its dependent's left
    edge_count: int
    width: int
    height: int
    layers: int
    edges_left_out: int  # edges beyond MAX_EDGES, or to jobs not drawn


def cut(name: str, limit: int = NAME_CHARS) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def depths(ids: Sequence[int], blockers: Mapping[int, Sequence[int]]) -> dict[int, int]:
    """Each job's layer: 0 without blockers, else one more than its deepest blocker.

    Linear in jobs + edges (Kahn's order). Jobs on a cycle (which the server refuses to run,
    so never expected) go after every other layer instead of looping."""
    known = set(ids)
    dependents: dict[int, list[int]] = {i: [] for i in ids}
    waiting = dict.fromkeys(ids, 0)
    for job_id in ids:
        for blocker in blockers.get(job_id, ()):
            if blocker in known:
                dependents[blocker].append(job_id)
                waiting[job_id] += 1
    depth = dict.fromkeys(ids, 0)
    ready = [i for i in ids if waiting[i] == 0]
    placed = 0
    while ready:
        job_id = ready.pop()
        placed += 1
        for after in dependents[job_id]:
            depth[after] = max(depth[after], depth[job_id] + 1)
            waiting[after] -= 1
            if waiting[after] == 0:
                ready.append(after)
    if placed < len(ids):
        last = max((depth[i] for i in ids if waiting[i] == 0), default=-1) + 1
        for job_id in ids:
            if waiting[job_id]:
                depth[job_id] = last
    return depth


def _rows(layers: list[list[int]], blockers: Mapping[int, Sequence[int]]) -> dict[int, int]:
    """Each job's row within its layer: layer 0 by id, later ones by their blockers' mean row."""
    row: dict[int, int] = {}
    for members in layers:

        def weight(job_id: int) -> tuple[float, int]:
            above = [row[b] for b in blockers.get(job_id, ()) if b in row]
            return (sum(above) / len(above) if above else float("inf"), job_id)

        for index, job_id in enumerate(sorted(members, key=weight)):
            row[job_id] = index
    return row


def layout(jobs: Iterable[tuple[int, str, str]], edges: Iterable[tuple[int, int]]) -> Layout:
    """Lay out `jobs` (id, name, status) and `edges` (job, the job it depends on)."""
    drawn = list(jobs)[:MAX_NODES]
    ids = [job_id for job_id, _name, _status in drawn]
    known = set(ids)
    blockers: dict[int, list[int]] = {}
    kept: list[tuple[int, int]] = []
    left_out = 0
    for job_id, blocker in edges:
        if job_id in known and blocker in known and len(kept) < MAX_EDGES:
            blockers.setdefault(job_id, []).append(blocker)
            kept.append((job_id, blocker))
        else:
            left_out += 1
    depth = depths(ids, blockers)
    count = max(depth.values(), default=-1) + 1
    layers: list[list[int]] = [[] for _ in range(count)]
    for job_id in ids:
        layers[depth[job_id]].append(job_id)
    row = _rows(layers, blockers)
    nodes = [_node(*job, layer=depth[job[0]], row=row[job[0]]) for job in drawn]
    at = {n.id: n for n in nodes}
    paths = "".join(_path(at[blocker], at[job_id]) for job_id, blocker in kept)
    tallest = max((len(members) for members in layers), default=0)
    width = 2 * MARGIN + count * (NODE_WIDTH + COLUMN_GAP) - (COLUMN_GAP if count else 0)
    height = 2 * MARGIN + tallest * (NODE_HEIGHT + ROW_GAP) - (ROW_GAP if tallest else 0)
    return Layout(nodes, paths, len(kept), max(width, 0), max(height, 0), count, left_out)


def _node(job_id: int, name: str, status: str, *, layer: int, row: int) -> Node:
    fill, stroke = COLOURS.get(status, UNKNOWN)
    return Node(
        id=job_id,
        name=name,
        label=cut(name),
        status=status,
        layer=layer,
        x=MARGIN + layer * (NODE_WIDTH + COLUMN_GAP),
        y=MARGIN + row * (NODE_HEIGHT + ROW_GAP),
        fill=fill,
        stroke=stroke,
    )


def _path(start: Node, end: Node) -> str:
    x1, y1 = start.x + NODE_WIDTH, start.y + NODE_HEIGHT // 2
    x2, y2 = end.x, end.y + NODE_HEIGHT // 2
    bend = (x1 + x2) // 2
    return f"M{x1} {y1}C{bend} {y1} {bend} {y2} {x2} {y2}"
