"""Reading the `jobs`, `files` and `user_data` sections and expanding their parameters.

Each entry is checked once as written, then expanded once per parameter combination. Entries
of one job that expand to the same name are one job (Torc's "process then aggregate": a job with
parameters but no placeholder in its name waits for every expansion of its `depends_on`): its
lists are the union over those combinations and its other fields must not differ between them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from teamgate.domain import spec_values as v
from teamgate.domain.parameters import (
    MAX_EXPANDED,
    Combination,
    Parameters,
    Values,
    read_parameters,
    substitute,
)
from teamgate.domain.spec_values import Path, SpecError

MAX_LINKS = 1_000_000  # dependency, file and user-data names after expansion, all together
MAX_TEXT = 64 * 1024 * 1024  # characters of commands and scripts after expansion, all together
ENV_MAX = 256
_PARAM_FIELDS = {"parameters", "parameter_mode", "use_parameters"}
JOB_FIELDS = {
    "name",
    "command",
    "resource_requirements",
    "depends_on",
    "input_files",
    "output_files",
    "input_user_data",
    "output_user_data",
    "env",
    "priority",
    "invocation_script",
    "cancel_on_blocking_job_failure",
    "supports_termination",
} | _PARAM_FIELDS
LIST_FIELDS = (
    "depends_on",
    "input_files",
    "output_files",
    "input_user_data",
    "output_user_data",
)
_REGEX_FIELDS = (
    "depends_on_regexes",
    "input_file_regexes",
    "output_file_regexes",
    "input_user_data_regexes",
    "output_user_data_regexes",
)
FILE_FIELDS = {"name", "path"} | _PARAM_FIELDS
USER_DATA_FIELDS = {"name", "data", "is_ephemeral"} | _PARAM_FIELDS

# an entry of a list field: (value, where it was written)
Entry = tuple[str, Path]


@dataclass(slots=True)
class DraftJob:
    """One job after expansion, before its links are resolved."""

    index: int  # position in `jobs` as written
    template: str  # the name as written
    name: str
    command: str
    resource_requirements: str | None
    invocation_script: str | None
    env: tuple[tuple[str, str], ...]
    priority: int
    cancel_on_blocking_job_failure: bool
    supports_termination: bool
    lists: dict[str, list[Entry]] = field(default_factory=dict)
    known: dict[str, set[str]] = field(default_factory=dict)  # what `lists` holds, by field

    @property
    def path(self) -> Path:
        return ("jobs", self.index)

    def describe(self) -> str:
        """`'process_7'`, or `'process_7' (from 'process_{i}')` for an expanded job."""
        if self.template == self.name:
            return repr(self.name)
        return f"{self.name!r} (from {self.template!r})"


@dataclass(frozen=True, slots=True)
class DraftFile:
    index: int
    name: str
    path: str


@dataclass(frozen=True, slots=True)
class DraftUserData:
    index: int
    name: str
    data: Any
    is_ephemeral: bool


class Budget:
    """Counts what expansion will make, before it is made."""

    def __init__(self) -> None:
        self.items = 0
        self.links = 0
        self.chars = 0

    def text(self, size: int, path: Path) -> None:
        """Count characters of expanded commands and scripts."""
        self.chars += size
        if self.chars > MAX_TEXT:
            raise SpecError(
                path, f"the workflow's commands expand to more than {MAX_TEXT} characters"
            )

    def take(self, params: Parameters, lists: int, path: Path) -> None:
        self.items += params.count
        if self.items > MAX_EXPANDED:
            raise SpecError(
                path, f"the workflow expands to more than {MAX_EXPANDED} jobs, files and user data"
            )
        self.links += params.count * lists
        if self.links > MAX_LINKS:
            raise SpecError(
                path, f"the workflow expands to more than {MAX_LINKS} dependencies and links"
            )


def _params(data: Mapping[str, Any], shared: Mapping[str, Values], path: Path) -> Parameters:
    return read_parameters(
        data.get("parameters"), data.get("use_parameters"), data.get("parameter_mode"), shared, path
    )


def expand_files(
    raw: Any, shared: Mapping[str, Values], budget: Budget
) -> Callable[[], list[DraftFile]]:
    """Check the `files` section and count its expansion now; expand when called."""
    entries: list[tuple[int, str, str, Parameters]] = []
    for i, item in enumerate(v.sequence(raw, ("files",))):
        path: Path = ("files", i)
        data = v.mapping(item, path, FILE_FIELDS, ("name", "path"))
        name = v.string(data["name"], (*path, "name"))
        where = v.string(data["path"], (*path, "path"), max_len=4096)
        params = _params(data, shared, path)
        budget.take(params, 0, path)
        entries.append((i, name, where, params))

    def build() -> list[DraftFile]:
        return [
            DraftFile(
                i,
                _name(substitute(name, combo, ("files", i, "name")), ("files", i, "name")),
                substitute(where, combo, ("files", i, "path")),
            )
            for i, name, where, params in entries
            for combo in params.combinations()
        ]

    return build


def expand_user_data(
    raw: Any, shared: Mapping[str, Values], budget: Budget
) -> Callable[[], list[DraftUserData]]:
    """Check the `user_data` section and count its expansion now; expand when called."""
    entries: list[tuple[int, str, Any, bool, Parameters]] = []
    for i, item in enumerate(v.sequence(raw, ("user_data",))):
        path: Path = ("user_data", i)
        data = v.mapping(item, path, USER_DATA_FIELDS, ("name",))
        name = v.string(data["name"], (*path, "name"))
        ephemeral = v.boolean(data.get("is_ephemeral", False), (*path, "is_ephemeral"))
        v.json_value(data.get("data"), (*path, "data"))
        params = _params(data, shared, path)
        budget.take(params, 0, path)
        entries.append((i, name, data.get("data"), ephemeral, params))

    def build() -> list[DraftUserData]:
        return [
            DraftUserData(
                i,
                _name(substitute(name, c, ("user_data", i, "name")), ("user_data", i, "name")),
                _deep(value, c, ("user_data", i, "data")),
                ephemeral,
            )
            for i, name, value, ephemeral, params in entries
            for c in params.combinations()
        ]

    return build


def _deep(value: Any, combo: Combination, path: Path) -> Any:
    """JSON data with placeholders in its strings replaced."""
    if not combo:
        return value
    if isinstance(value, str):
        return substitute(value, combo, path)
    if isinstance(value, list):
        return [_deep(x, combo, (*path, k)) for k, x in enumerate(value)]
    if isinstance(value, dict):
        return {k: _deep(x, combo, (*path, str(k))) for k, x in value.items()}
    return value


def _name(text: str, path: Path) -> str:
    """A name after substitution must still fit."""
    if len(text) > v.NAME_MAX:
        raise SpecError(path, f"expands to a name longer than {v.NAME_MAX} characters")
    return text


@dataclass(frozen=True, slots=True)
class _JobTemplate:
    """A job as written, checked."""

    index: int
    name: str
    command: str
    resource_requirements: str | None
    invocation_script: str | None
    env: tuple[tuple[str, str], ...]
    priority: int
    cancel: bool
    terminate: bool
    lists: dict[str, tuple[str, ...]]
    params: Parameters


def _job_template(item: Any, i: int, shared: Mapping[str, Values]) -> _JobTemplate:
    path: Path = ("jobs", i)
    if isinstance(item, Mapping):
        for name in _REGEX_FIELDS:
            if name in item:
                raise SpecError(
                    (*path, name),
                    "regular expressions are not supported here: list the names instead "
                    "(a job with parameters expands them, e.g. depends_on: [process_{i}])",
                )
    data = v.mapping(item, path, JOB_FIELDS, ("name", "command"))
    return _JobTemplate(
        index=i,
        name=v.string(data["name"], (*path, "name")),
        command=v.string(data["command"], (*path, "command"), max_len=v.TEXT_MAX),
        resource_requirements=v.optional_string(
            data.get("resource_requirements"), (*path, "resource_requirements")
        ),
        invocation_script=v.optional_string(
            data.get("invocation_script"), (*path, "invocation_script"), max_len=4096
        ),
        env=_env(data.get("env"), (*path, "env")),
        priority=v.integer(
            data.get("priority", 0), (*path, "priority"), minimum=-v.INT_MAX, maximum=v.INT_MAX
        ),
        cancel=v.boolean(
            data.get("cancel_on_blocking_job_failure", False),
            (*path, "cancel_on_blocking_job_failure"),
        ),
        terminate=v.boolean(
            data.get("supports_termination", False), (*path, "supports_termination")
        ),
        lists={f: v.names(data.get(f), (*path, f)) for f in LIST_FIELDS},
        params=_params(data, shared, path),
    )


def _env(value: Any, path: Path) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise SpecError(path, f"expected a mapping of names to strings, got {v.kind(value)}")
    if len(value) > ENV_MAX:
        raise SpecError(path, f"has more than {ENV_MAX} variables")
    out: dict[str, str] = {}
    for key, text in value.items():
        if not isinstance(key, str) or not key or "=" in key or "\0" in key or len(key) > 255:
            raise SpecError((*path, str(key)[:64]), "invalid environment variable name")
        if isinstance(text, bool) or not isinstance(text, str | int | float):
            raise SpecError((*path, key), f"expected a string, got {v.kind(text)}")
        text = str(text)
        if "\0" in text or len(text) > v.TEXT_MAX:
            raise SpecError((*path, key), "invalid value (a NUL byte, or too long)")
        out[key] = text
    return tuple(sorted(out.items()))


def expand_jobs(
    raw: Any, shared: Mapping[str, Values], budget: Budget
) -> Callable[[], list[DraftJob]]:
    """Check the `jobs` section and count its expansion now; expand when called."""
    templates = [
        _job_template(item, i, shared) for i, item in enumerate(v.sequence(raw, ("jobs",)))
    ]
    for t in templates:
        budget.take(t.params, sum(len(x) for x in t.lists.values()), ("jobs", t.index))
    return lambda: _build_jobs(templates, budget)


def _build_jobs(templates: list[_JobTemplate], budget: Budget) -> list[DraftJob]:
    out: list[DraftJob] = []
    seen: dict[str, DraftJob] = {}
    for t in templates:
        mine: dict[str, DraftJob] = {}
        for combo in t.params.combinations():
            job = _expand_one(t, combo)
            if combo:
                budget.text(len(job.command) + len(job.invocation_script or ""), job.path)
            same = mine.get(job.name)
            if same is not None:
                _merge(same, job)
                continue
            other = seen.get(job.name)
            if other is not None:
                raise SpecError(
                    (*job.path, "name"),
                    f"duplicate job name {job.describe()}: jobs[{other.index}] "
                    f"is also named {other.name!r}",
                )
            mine[job.name] = seen[job.name] = job
            out.append(job)
    return out


def _expand_one(t: _JobTemplate, combo: Combination) -> DraftJob:
    path: Path = ("jobs", t.index)

    def sub(text: str, *where: str | int) -> str:
        return substitute(text, combo, (*path, *where))

    lists = {
        f: [(sub(x, f, k), (*path, f, k)) for k, x in enumerate(values)]
        for f, values in t.lists.items()
    }
    return DraftJob(
        index=t.index,
        template=t.name,
        name=_name(sub(t.name, "name"), (*path, "name")),
        command=sub(t.command, "command"),
        resource_requirements=_maybe(t.resource_requirements, sub, "resource_requirements"),
        invocation_script=_maybe(t.invocation_script, sub, "invocation_script"),
        env=tuple((k, sub(x, "env", k)) for k, x in t.env),
        priority=t.priority,
        cancel_on_blocking_job_failure=t.cancel,
        supports_termination=t.terminate,
        lists=lists,
    )


def _maybe(text: str | None, sub: Callable[..., str], where: str) -> str | None:
    return None if text is None else sub(text, where)


_SCALARS = ("command", "resource_requirements", "invocation_script", "env")


def _merge(into: DraftJob, more: DraftJob) -> None:
    """Fold another combination of the same job name into `into`."""
    for name in _SCALARS:
        if getattr(into, name) != getattr(more, name):
            raise SpecError(
                (*into.path, name),
                f"differs between parameter values that give the same job name {into.name!r} "
                "(put the parameter in the name, or leave it out of this field)",
            )
    for f, entries in more.lists.items():
        if not entries:
            continue
        known = into.known.get(f)
        if known is None:
            known = into.known[f] = {value for value, _ in into.lists[f]}
        for entry in entries:
            if entry[0] not in known:
                known.add(entry[0])
                into.lists[f].append(entry)
