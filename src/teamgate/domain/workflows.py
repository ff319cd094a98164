"""Workflow specifications: the model, and reading one from plain data.

A spec arrives as plain data (parsed from YAML, JSON or JSON5, as Torc's workflow-specification
docs describe it). Reading it checks every field strictly, expands parameters
(`domain.parameters`), resolves files, user data and dependencies (`domain.spec_links`) and
gives a `WorkflowSpec` whose jobs carry their expanded names, substituted commands and every
dependency, explicit or implied. A problem is a `SpecError` carrying the path of the field, so
callers that know the source text can add a line number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from teamgate.domain import spec_values as v
from teamgate.domain.parameters import read_parameter_map
from teamgate.domain.spec_expand import Budget, expand_files, expand_jobs, expand_user_data
from teamgate.domain.spec_links import link
from teamgate.domain.spec_values import Path, SpecError, format_path

__all__ = [
    "FileSpec",
    "JobSpec",
    "Path",
    "ResourceRequirements",
    "SpecError",
    "UserDataSpec",
    "WorkflowSpec",
    "format_path",
    "parse_spec",
]


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


_WORKFLOW_FIELDS = {
    "name",
    "description",
    "user",
    "jobs",
    "files",
    "user_data",
    "resource_requirements",
    "parameters",
    "access_groups",
}
_RR_FIELDS = {"name", "num_cpus", "memory", "num_gpus", "num_nodes", "runtime"}


def parse_spec(data: Any) -> WorkflowSpec:
    """Validate and expand plain data as a workflow spec; raise SpecError naming the bad field."""
    top = v.mapping(data, (), _WORKFLOW_FIELDS, ("name",))
    shared_raw = top.get("parameters") or {}
    if not isinstance(shared_raw, dict):
        raise SpecError(("parameters",), f"expected a mapping, got {v.kind(shared_raw)}")
    shared = read_parameter_map(shared_raw, ("parameters",))
    rrs = tuple(
        _resource_requirements(x, ("resource_requirements", i))
        for i, x in enumerate(
            v.sequence(top.get("resource_requirements"), ("resource_requirements",))
        )
    )
    _unique([r.name for r in rrs], "resource_requirements")
    budget = Budget()
    # everything is checked and counted before anything is expanded
    build_files = expand_files(top.get("files"), shared, budget)
    build_user_data = expand_user_data(top.get("user_data"), shared, budget)
    build_jobs = expand_jobs(top.get("jobs"), shared, budget)
    files, user_data, drafts = build_files(), build_user_data(), build_jobs()
    linked = link(drafts, files, user_data, (r.name for r in rrs), budget)
    jobs = tuple(
        JobSpec(
            name=d.name,
            command=x.command,
            resource_requirements=d.resource_requirements,
            depends_on=x.depends_on,
            input_files=x.input_files,
            output_files=x.output_files,
            input_user_data=x.input_user_data,
            output_user_data=x.output_user_data,
            env=d.env,
            priority=d.priority,
            invocation_script=x.invocation_script,
            cancel_on_blocking_job_failure=d.cancel_on_blocking_job_failure,
            supports_termination=d.supports_termination,
        )
        for d, x in zip(drafts, linked, strict=True)
    )
    groups = v.names(top.get("access_groups"), ("access_groups",))
    _unique(list(groups), "access_groups", field=None)
    return WorkflowSpec(
        name=v.string(top["name"], ("name",)),
        description=v.optional_string(top.get("description"), ("description",), max_len=4096),
        user=v.optional_string(top.get("user"), ("user",)),
        jobs=jobs,
        resource_requirements=rrs,
        access_groups=groups,
        files=tuple(FileSpec(f.name, f.path) for f in files),
        user_data=tuple(UserDataSpec(u.name, u.data, u.is_ephemeral) for u in user_data),
    )


def _resource_requirements(value: Any, path: Path) -> ResourceRequirements:
    data = v.mapping(value, path, _RR_FIELDS, ("name", "num_cpus", "memory"))
    return ResourceRequirements(
        name=v.string(data["name"], (*path, "name")),
        num_cpus=v.integer(data["num_cpus"], (*path, "num_cpus"), minimum=1),
        memory=v.memory(data["memory"], (*path, "memory")),
        num_gpus=v.integer(data.get("num_gpus", 0), (*path, "num_gpus"), minimum=0),
        num_nodes=v.integer(data.get("num_nodes", 1), (*path, "num_nodes"), minimum=1),
        runtime=v.runtime(data.get("runtime", "PT1H"), (*path, "runtime")),
    )


def _unique(names: list[str], section: str, field: str | None = "name") -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            path: Path = (section, i, field) if field else (section, i)
            raise SpecError(path, f"duplicate name {name!r}: {section}[{seen[name]}] has it too")
        seen[name] = i
