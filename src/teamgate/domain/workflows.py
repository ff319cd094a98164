"""Workflow specifications: the model and its strict validation.

A spec arrives as plain data (parsed from YAML or JSON). Validation rejects unknown
fields and bad values with a `SpecError` that carries the path of the offending field,
so callers that know the source text can add a line number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from teamgate.errors import Invalid

Path = tuple[str | int, ...]

MEMORY_RE = re.compile(r"^[0-9]+(\.[0-9]+)?[kmgtKMGT]?$")
RUNTIME_RE = re.compile(r"^P(?!$)([0-9]+D)?(T(?=[0-9])([0-9]+H)?([0-9]+M)?([0-9]+(\.[0-9]+)?S)?)?$")
NAME_MAX = 255
INT_MAX = 2**31 - 1


class SpecError(Invalid):
    """A spec problem at `path` (e.g. ("jobs", 0, "command"))."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{format_path(path)}: {problem}" if path else problem)


def format_path(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


@dataclass(frozen=True, slots=True)
class ResourceRequirements:
    name: str
    num_cpus: int
    memory: str
    num_gpus: int = 0
    num_nodes: int = 1
    runtime: str = "PT1H"


@dataclass(frozen=True, slots=True)
class FileSpec:
    name: str
    path: str


@dataclass(frozen=True, slots=True)
class UserDataSpec:
    name: str
    data: Any  # a JSON value
    is_ephemeral: bool = False


@dataclass(frozen=True, slots=True)
class JobSpec:
    name: str
    command: str  # ${files.*} / ${user_data.*} already substituted
    resource_requirements: str | None = None
    depends_on: tuple[str, ...] = ()  # explicit and implied by files / user data
    input_files: tuple[str, ...] = ()  # file names
    output_files: tuple[str, ...] = ()
    input_user_data: tuple[str, ...] = ()
    output_user_data: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # sorted by name
    priority: int = 0  # higher runs first
    invocation_script: str | None = None
    cancel_on_blocking_job_failure: bool = False  # Torc's documented spec default
    supports_termination: bool = False


@dataclass(frozen=True, slots=True)
class WorkflowSpec:
    name: str
    description: str | None
    user: str | None
    jobs: tuple[JobSpec, ...]
    resource_requirements: tuple[ResourceRequirements, ...]
    access_groups: tuple[str, ...]
    files: tuple[FileSpec, ...] = ()
    user_data: tuple[UserDataSpec, ...] = ()


_WORKFLOW_FIELDS = {"name", "description", "user", "jobs", "resource_requirements", "access_groups"}
_JOB_FIELDS = {
    "name",
    "command",
    "resource_requirements",
    "depends_on",
    "invocation_script",
    "cancel_on_blocking_job_failure",
    "supports_termination",
}
_RR_FIELDS = {"name", "num_cpus", "memory", "num_gpus", "num_nodes", "runtime"}


def _mapping(
    value: Any, path: Path, allowed: set[str], required: Sequence[str]
) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SpecError(path, f"expected a mapping, got {_kind(value)}")
    for key in value:
        if not isinstance(key, str) or key not in allowed:
            raise SpecError(
                (*path, str(key)), f"unknown field (allowed: {', '.join(sorted(allowed))})"
            )
    for key in required:
        if key not in value:
            raise SpecError((*path, key), "required field is missing")
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _string(
    value: Any, path: Path, *, optional: bool = False, max_len: int = NAME_MAX
) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise SpecError(path, f"expected a string, got {_kind(value)}")
    if not value.strip() and not optional:
        raise SpecError(path, "must not be empty")
    if len(value) > max_len:
        raise SpecError(path, f"is longer than {max_len} characters")
    return value


def _name(value: Any, path: Path) -> str:
    text = _string(value, path)
    assert text is not None
    return text


def _int(value: Any, path: Path, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(path, f"expected an integer, got {_kind(value)}")
    if value < minimum:
        raise SpecError(path, f"must be at least {minimum}")
    if value > INT_MAX:
        raise SpecError(path, f"must be at most {INT_MAX}")
    return value


def _bool(value: Any, path: Path) -> bool:
    if not isinstance(value, bool):
        raise SpecError(path, f"expected true or false, got {_kind(value)}")
    return value


def _list(value: Any, path: Path) -> list[Any]:
    if not isinstance(value, list):
        raise SpecError(path, f"expected a list, got {_kind(value)}")
    return value


def _resource_requirements(value: Any, path: Path) -> ResourceRequirements:
    data = _mapping(value, path, _RR_FIELDS, ("name", "num_cpus", "memory"))
    memory = data["memory"]
    if isinstance(memory, bool) or not isinstance(memory, str | int):
        raise SpecError(
            (*path, "memory"), f"expected a size like '1g' or '512m', got {_kind(memory)}"
        )
    memory = str(memory)
    if not MEMORY_RE.match(memory):
        raise SpecError(
            (*path, "memory"), f"invalid size '{memory}' (use e.g. '1g', '512m', '100k')"
        )
    runtime = data.get("runtime", "PT1H")
    if not isinstance(runtime, str) or not RUNTIME_RE.match(runtime):
        raise SpecError(
            (*path, "runtime"),
            f"invalid ISO-8601 duration {runtime!r} (use e.g. 'PT10M', 'P1DT2H')",
        )
    return ResourceRequirements(
        name=_name(data["name"], (*path, "name")),
        num_cpus=_int(data["num_cpus"], (*path, "num_cpus"), minimum=1),
        memory=memory,
        num_gpus=_int(data.get("num_gpus", 0), (*path, "num_gpus"), minimum=0),
        num_nodes=_int(data.get("num_nodes", 1), (*path, "num_nodes"), minimum=1),
        runtime=runtime,
    )


def _job(value: Any, path: Path) -> JobSpec:
    data = _mapping(value, path, _JOB_FIELDS, ("name", "command"))
    depends = _list(data.get("depends_on", []), (*path, "depends_on"))
    return JobSpec(
        name=_name(data["name"], (*path, "name")),
        command=_name_or_long(data["command"], (*path, "command")),
        resource_requirements=_string(
            data.get("resource_requirements"), (*path, "resource_requirements"), optional=True
        ),
        depends_on=tuple(_name(d, (*path, "depends_on", i)) for i, d in enumerate(depends)),
        invocation_script=_string(
            data.get("invocation_script"), (*path, "invocation_script"), optional=True, max_len=4096
        ),
        cancel_on_blocking_job_failure=_bool(
            data.get("cancel_on_blocking_job_failure", False),
            (*path, "cancel_on_blocking_job_failure"),
        ),
        supports_termination=_bool(
            data.get("supports_termination", False), (*path, "supports_termination")
        ),
    )


def _name_or_long(value: Any, path: Path) -> str:
    text = _string(value, path, max_len=65536)
    assert text is not None
    return text


def parse_spec(data: Any) -> WorkflowSpec:
    """Validate plain data as a workflow spec; raise SpecError naming the bad field."""
    top = _mapping(data, (), _WORKFLOW_FIELDS, ("name",))
    rrs = tuple(
        _resource_requirements(v, ("resource_requirements", i))
        for i, v in enumerate(
            _list(top.get("resource_requirements", []), ("resource_requirements",))
        )
    )
    jobs = tuple(_job(v, ("jobs", i)) for i, v in enumerate(_list(top.get("jobs", []), ("jobs",))))
    groups = _list(top.get("access_groups", []), ("access_groups",))
    spec = WorkflowSpec(
        name=_name(top["name"], ("name",)),
        description=_string(top.get("description"), ("description",), optional=True, max_len=4096),
        user=_string(top.get("user"), ("user",), optional=True),
        jobs=jobs,
        resource_requirements=rrs,
        access_groups=tuple(_name(g, ("access_groups", i)) for i, g in enumerate(groups)),
    )
    _check_references(spec)
    return spec


def _check_references(spec: WorkflowSpec) -> None:
    rr_names = _unique([r.name for r in spec.resource_requirements], "resource_requirements")
    job_names = _unique([j.name for j in spec.jobs], "jobs")
    _unique(list(spec.access_groups), "access_groups", field=None)
    for i, job in enumerate(spec.jobs):
        if job.resource_requirements is not None and job.resource_requirements not in rr_names | {
            "default"
        }:
            raise SpecError(
                ("jobs", i, "resource_requirements"),
                f"unknown resource requirements '{job.resource_requirements}' "
                "(define it under resource_requirements)",
            )
        for k, dep in enumerate(job.depends_on):
            if dep not in job_names:
                raise SpecError(("jobs", i, "depends_on", k), f"unknown job '{dep}'")
            if dep == job.name:
                raise SpecError(("jobs", i, "depends_on", k), "a job cannot depend on itself")
    _check_acyclic(spec.jobs)


def _unique(names: list[str], section: str, field: str | None = "name") -> set[str]:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            path: Path = (section, i, field) if field else (section, i)
            raise SpecError(path, f"duplicate name '{name}'")
        seen.add(name)
    return seen


def _check_acyclic(jobs: Sequence[JobSpec]) -> None:
    deps = {job.name: job.depends_on for job in jobs}
    state: dict[str, int] = {}  # 1 = visiting, 2 = done

    for start in deps:
        stack: list[tuple[str, int]] = [(start, 0)]
        while stack:
            name, index = stack.pop()
            if index == 0:
                if state.get(name) == 2:
                    continue
                state[name] = 1
            children = deps[name]
            if index < len(children):
                stack.append((name, index + 1))
                child = children[index]
                if state.get(child) == 1:
                    position = next(i for i, j in enumerate(jobs) if j.name == name)
                    raise SpecError(
                        ("jobs", position, "depends_on"),
                        f"dependency cycle through jobs '{name}' and '{child}'",
                    )
                if state.get(child) != 2:
                    stack.append((child, 0))
            else:
                state[name] = 2
