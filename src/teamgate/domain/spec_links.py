"""Resolving what expanded jobs refer to: files, user data, requirements and other jobs.

`${files.input.NAME}` / `${files.output.NAME}` in a command become the file's path, and
`${user_data.input.NAME}` / `${user_data.output.NAME}` the data's JSON text; each records the
file or data as an input or output of the job. A job that reads a file (or user data) waits for
every job that writes it, as in Torc's diamond tutorial. A dependency cycle is refused, naming
it (`a -> b -> c -> a`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from teamgate.domain.spec_expand import (
    MAX_LINKS,
    Budget,
    DraftFile,
    DraftJob,
    DraftUserData,
    Entry,
)
from teamgate.domain.spec_values import SpecError

_REFERENCE = re.compile(r"\$\{(files|user_data)\.([^{}\s]*+)\}")
_KINDS = {"files": "file", "user_data": "user data"}


@dataclass(frozen=True, slots=True)
class Linked:
    """What a job refers to, resolved: every name known, dependencies expanded."""

    command: str
    invocation_script: str | None
    depends_on: tuple[str, ...]
    input_files: tuple[str, ...]
    output_files: tuple[str, ...]
    input_user_data: tuple[str, ...]
    output_user_data: tuple[str, ...]


def link(
    jobs: Sequence[DraftJob],
    files: Sequence[DraftFile],
    user_data: Sequence[DraftUserData],
    requirements: Iterable[str],
    budget: Budget,
) -> list[Linked]:
    """Resolve every job's references; raise SpecError at the field that names something
    unknown, or at a job on a dependency cycle."""
    _unique_names(files, "files")
    _unique_names(user_data, "user_data")
    paths = {f.name: f.path for f in files}
    texts = {u.name: json.dumps(u.data, separators=(",", ":")) for u in user_data}
    known_rr = {*requirements, "default"}
    names = {job.name for job in jobs}
    for job in jobs:
        _substitute_references(job, paths, texts, budget)
        _check_names(job, paths, texts, known_rr, names)
    writers = {f: _writers(jobs, f) for f in ("output_files", "output_user_data")}
    edges = 0
    out: list[Linked] = []
    for job in jobs:
        depends = dict.fromkeys(name for name, _ in job.lists["depends_on"])
        for reads, writes in (
            ("input_files", "output_files"),
            ("input_user_data", "output_user_data"),
        ):
            for name, _ in job.lists[reads]:
                for writer in writers[writes].get(name, ()):
                    if writer != job.name:
                        depends.setdefault(writer)
        edges += len(depends)
        if edges > MAX_LINKS:
            raise SpecError(
                (*job.path, "depends_on"),
                f"the workflow has more than {MAX_LINKS} dependencies (explicit and implied)",
            )
        out.append(
            Linked(
                command=job.command,
                invocation_script=job.invocation_script,
                depends_on=tuple(depends),
                **{f: tuple(dict.fromkeys(n for n, _ in job.lists[f])) for f in _IO_FIELDS},
            )
        )
    check_acyclic(jobs, [x.depends_on for x in out])
    return out


_IO_FIELDS = ("input_files", "output_files", "input_user_data", "output_user_data")
_FIELD_OF = {
    ("files", "input"): "input_files",
    ("files", "output"): "output_files",
    ("user_data", "input"): "input_user_data",
    ("user_data", "output"): "output_user_data",
}


def _unique_names(items: Sequence[DraftFile] | Sequence[DraftUserData], section: str) -> set[str]:
    seen: dict[str, int] = {}
    for item in items:
        if item.name in seen:
            raise SpecError(
                (section, item.index, "name"),
                f"duplicate name {item.name!r}: {section}[{seen[item.name]}] has it too",
            )
        seen[item.name] = item.index
    return set(seen)


def _substitute_references(
    job: DraftJob, file_paths: Mapping[str, str], texts: Mapping[str, str], budget: Budget
) -> None:
    """Replace `${files.*}` / `${user_data.*}` in the command and invocation script, and
    record each as an input or output of the job."""

    def replace(text: str, where: str) -> str:
        def one(match: re.Match[str]) -> str:
            section, rest = match[1], match[2]
            direction, _, name = rest.partition(".")
            field = _FIELD_OF.get((section, direction))
            if field is None or not name:
                raise SpecError(
                    (*job.path, where),
                    f"invalid reference {match[0][:80]!r} in job {job.describe()} "
                    f"(use ${{{section}.input.NAME}} or ${{{section}.output.NAME}})",
                )
            values = file_paths if section == "files" else texts
            if name not in values:
                raise SpecError(
                    (*job.path, where),
                    f"unknown {_KINDS[section]} {name!r} in {match[0][:80]!r} of job "
                    f"{job.describe()} (define it under {section})",
                )
            if name not in job.known.setdefault(field, {n for n, _ in job.lists[field]}):
                job.known[field].add(name)
                job.lists[field].append((name, (*job.path, where)))
            budget.text(len(values[name]), (*job.path, where))
            return values[name]

        return _REFERENCE.sub(one, text) if "${" in text else text

    job.command = replace(job.command, "command")
    if job.invocation_script is not None:
        job.invocation_script = replace(job.invocation_script, "invocation_script")


def _check_names(
    job: DraftJob,
    files: Mapping[str, str],
    user_data: Mapping[str, str],
    requirements: set[str],
    jobs: set[str],
) -> None:
    if job.resource_requirements is not None and job.resource_requirements not in requirements:
        raise SpecError(
            (*job.path, "resource_requirements"),
            f"unknown resource requirements {job.resource_requirements!r} "
            "(define it under resource_requirements)",
        )
    checks: list[tuple[str, Iterable[Entry], Mapping[str, str] | set[str], str]] = [
        ("depends_on", job.lists["depends_on"], jobs, "job"),
        ("input_files", job.lists["input_files"], files, "file"),
        ("output_files", job.lists["output_files"], files, "file"),
        ("input_user_data", job.lists["input_user_data"], user_data, "user data"),
        ("output_user_data", job.lists["output_user_data"], user_data, "user data"),
    ]
    for _field, entries, known, what in checks:
        for name, path in entries:
            if name not in known:
                raise SpecError(path, f"unknown {what} {name!r} (in job {job.describe()})")
    for name, path in job.lists["depends_on"]:
        if name == job.name:
            raise SpecError(path, f"job {job.describe()} cannot depend on itself")


def _writers(jobs: Sequence[DraftJob], field: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for job in jobs:
        for name, _ in job.lists[field]:
            found.setdefault(name, []).append(job.name)
    return found


def check_acyclic(jobs: Sequence[DraftJob], depends: Sequence[Sequence[str]]) -> None:
    """Refuse a dependency cycle, naming it: `a -> b -> c -> a`."""
    position = {job.name: k for k, job in enumerate(jobs)}
    state = [0] * len(jobs)  # 0 = not seen, 1 = on the current path, 2 = done
    for start in range(len(jobs)):
        if state[start]:
            continue
        path: list[int] = [start]
        cursor: list[int] = [0]
        state[start] = 1
        while path:
            node = path[-1]
            children = depends[node]
            if cursor[-1] == len(children):
                state[node] = 2
                path.pop()
                cursor.pop()
                continue
            child = position[children[cursor[-1]]]
            cursor[-1] += 1
            if state[child] == 1:
                cycle = [jobs[k].name for k in path[path.index(child) :]]
                raise SpecError(
                    (*jobs[node].path, "depends_on"),
                    "dependency cycle (each job waits for the next): "
                    + " -> ".join([*cycle, cycle[0]]),
                )
            if state[child] == 0:
                state[child] = 1
                path.append(child)
                cursor.append(0)
