"""Parameters: one job or file in a spec standing for many, as in Torc's parameterization docs.

A parameter's value is a string: a range (`"1:100"`, `"0:100:10"`, `"0.0:1.0:0.1"`, inclusive),
a list (`"[1,5,10]"`, `"['a','b']"`) or a single value. Several parameters combine as a Cartesian
product (in the order they are written) or, with `parameter_mode: zip`, element-wise.

Placeholders are `{name}` and `{name:FORMAT}` with FORMAT one of `d`, `Nd`, `0Nd`, `.Nf`, `.Ne`.
They are parsed here, never handed to `str.format`, so `{i.__class__}` is an error, not an
attribute lookup. Braces that do not name one of the parameters (`awk '{print $1}'`) are text.

Everything is counted before it is built: `"1:1000000000"` is refused without making a list.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from teamgate.domain.spec_values import LIST_MAX, NAME_MAX, Path, SpecError, kind

Value = int | float | str
Combination = Mapping[str, Value]

MAX_EXPANDED = 100_000  # jobs, files and user data after expansion, all together
PARAMETER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*+)([^{}]*+)\}")
_INT_FORMAT = re.compile(r"0?[0-9]{0,2}d")
_FLOAT_FORMAT = re.compile(r"\.[0-9]{1,2}[fe]")
_INT = re.compile(r"[+-]?[0-9]{1,18}")
_FLOAT = re.compile(r"[+-]?([0-9]{1,18}(\.[0-9]{0,18})?|\.[0-9]{1,18})([eE][+-]?[0-9]{1,3})?")
_MODES = ("product", "zip")


@dataclass(frozen=True, slots=True)
class Values:
    """The values of one parameter, counted; `at(k)` makes the k-th on demand."""

    count: int
    start: int | float = 0
    step: int | float = 1
    decimals: int | None = None  # float ranges are rounded to what was written
    items: tuple[Value, ...] | None = None

    def at(self, k: int) -> Value:
        if self.items is not None:
            return self.items[k]
        value = self.start + k * self.step
        if isinstance(value, float) and self.decimals is not None:
            value = round(value, self.decimals)
        return value

    def __iter__(self) -> Iterator[Value]:
        return (self.at(k) for k in range(self.count))


def parse_values(text: Any, path: Path) -> Values:
    """Read one parameter's value string; raise SpecError at `path` if it makes no values."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise SpecError(path, f"expected a string such as '1:100' or '[1,2,3]', got {kind(text)}")
    if not isinstance(text, str):
        return Values(count=1, items=(text,))
    raw = text.strip()
    if len(raw) > 100_000:
        raise SpecError(path, "is longer than 100000 characters")
    if raw.startswith("{") and raw.endswith("}") and "," not in raw:
        raw = raw[1:-1].strip()
    if raw.startswith("[") and raw.endswith("]"):
        return _list(raw[1:-1], path)
    parts = [p.strip() for p in raw.split(":")]
    if len(parts) in (2, 3) and any(_FLOAT.fullmatch(p) for p in parts):
        return _range(parts, path)
    return Values(count=1, items=(_scalar(raw),))


def _scalar(text: str) -> Value:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text


def _list(body: str, path: Path) -> Values:
    if not body.strip():
        raise SpecError(path, "the list has no values")
    items = body.split(",", LIST_MAX)
    if len(items) > LIST_MAX:
        raise SpecError(path, f"the list has more than {LIST_MAX} values")
    values = tuple(_scalar(item.strip()) for item in items)
    for value in values:
        if isinstance(value, str) and len(value) > NAME_MAX:
            raise SpecError(path, f"a value is longer than {NAME_MAX} characters")
    return Values(count=len(values), items=values)


def _range(parts: list[str], path: Path) -> Values:
    if not all(_FLOAT.fullmatch(p) for p in parts):
        raise SpecError(path, f"invalid range {':'.join(parts)!r} (use e.g. '1:100', '0:1:0.1')")
    if all(_INT.fullmatch(p) for p in parts):
        start, stop = int(parts[0]), int(parts[1])
        step = int(parts[2]) if len(parts) == 3 else 1
        if step == 0:
            raise SpecError(path, "the step of a range cannot be zero")
        count = (stop - start) // step + 1
        return Values(count=_counted(count, path), start=start, step=step)
    fstart, fstop = float(parts[0]), float(parts[1])
    fstep = float(parts[2]) if len(parts) == 3 else 1.0
    if fstep == 0:
        raise SpecError(path, "the step of a range cannot be zero")
    decimals = None if any("e" in p.lower() for p in parts) else max(_decimals(p) for p in parts)
    steps = (fstop - fstart) / fstep
    if not math.isfinite(steps):
        raise SpecError(path, f"invalid range {':'.join(parts)!r}: its numbers are too large")
    count = math.floor(steps + 1e-9) + 1
    return Values(count=_counted(count, path), start=fstart, step=fstep, decimals=decimals)


def _decimals(text: str) -> int:
    return len(text.split(".", 1)[1]) if "." in text else 0


def _counted(count: int, path: Path) -> int:
    if count < 1:
        raise SpecError(path, "the range has no values (check its start, end and step)")
    if count > MAX_EXPANDED:
        raise SpecError(path, f"the range has more than {MAX_EXPANDED} values")
    return count


@dataclass(frozen=True, slots=True)
class Parameters:
    """The parameters of one job or file, in the order written, and how they combine."""

    names: tuple[str, ...]
    values: tuple[Values, ...]
    zip: bool = False

    @property
    def count(self) -> int:
        if not self.names:
            return 1
        if self.zip:
            return self.values[0].count
        return math.prod(v.count for v in self.values)

    def combinations(self) -> Iterator[dict[str, Value]]:
        """Each combination, the last parameter varying fastest (deterministic)."""
        if self.zip:
            for k in range(self.count):
                yield {n: v.at(k) for n, v in zip(self.names, self.values, strict=True)}
            return
        for combo in itertools.product(*self.values):
            yield dict(zip(self.names, combo, strict=True))


NO_PARAMETERS = Parameters((), ())


def read_parameters(
    local: Any,
    use: Any,
    mode: Any,
    shared: Mapping[str, Values],
    path: Path,
) -> Parameters:
    """A job's or file's parameters: its own `parameters` win, else the shared ones it names
    in `use_parameters`, else none."""
    zipped = _mode(mode, (*path, "parameter_mode"))
    if local is not None:
        if not isinstance(local, Mapping):
            raise SpecError((*path, "parameters"), f"expected a mapping, got {kind(local)}")
        found = read_parameter_map(local, (*path, "parameters"))
        return _combined(tuple(found), tuple(found.values()), zipped, (*path, "parameters"))
    if use is None:
        return NO_PARAMETERS
    if not isinstance(use, list):
        raise SpecError((*path, "use_parameters"), f"expected a list, got {kind(use)}")
    chosen: dict[str, Values] = {}
    for i, name in enumerate(use):
        if not isinstance(name, str) or name not in shared:
            shown = name if isinstance(name, str) else kind(name)
            raise SpecError(
                (*path, "use_parameters", i),
                f"unknown parameter {shown!r} (define it under the workflow's parameters)",
            )
        chosen[name] = shared[name]
    return _combined(tuple(chosen), tuple(chosen.values()), zipped, (*path, "use_parameters"))


def read_parameter_map(data: Mapping[Any, Any], path: Path) -> dict[str, Values]:
    """`{name: value string}` → counted values, checking each name."""
    if len(data) > 32:
        raise SpecError(path, "has more than 32 parameters")
    found: dict[str, Values] = {}
    for name, text in data.items():
        if not isinstance(name, str) or not PARAMETER_NAME.fullmatch(name):
            raise SpecError(
                (*path, str(name)[:NAME_MAX]),
                "a parameter name is a letter or '_' then letters, digits or '_'",
            )
        found[name] = parse_values(text, (*path, name))
    return found


def _mode(value: Any, path: Path) -> bool:
    if value is None:
        return False
    if value not in _MODES:
        raise SpecError(path, f"expected 'product' or 'zip', got {str(value)[:40]!r}")
    return bool(value == "zip")


def _combined(
    names: tuple[str, ...], values: tuple[Values, ...], zipped: bool, path: Path
) -> Parameters:
    if zipped and values:
        first = values[0]
        for name, other in zip(names[1:], values[1:], strict=True):
            if other.count != first.count:
                raise SpecError(
                    path,
                    "with parameter_mode zip every parameter needs the same number of values: "
                    f"'{names[0]}' has {first.count}, '{name}' has {other.count}",
                )
    params = Parameters(names, values, zipped)
    if params.count > MAX_EXPANDED:
        raise SpecError(path, f"expands to more than {MAX_EXPANDED} combinations")
    return params


def placeholders(text: str, names: Sequence[str]) -> set[str]:
    """Which of `names` appear as placeholders in `text`."""
    wanted = set(names)
    return {m[1] for m in _PLACEHOLDER.finditer(text) if m[1] in wanted}


def substitute(text: str, combo: Combination, path: Path) -> str:
    """`text` with each `{name}` / `{name:FORMAT}` of a parameter in `combo` replaced."""
    if "{" not in text or not combo:
        return text

    def one(match: re.Match[str]) -> str:
        name, rest = match[1], match[2]
        if name not in combo:
            return match[0]
        value = combo[name]
        if not rest:
            return _plain(value)
        if not rest.startswith(":"):
            if rest.startswith(".") and match.start() > 0 and text[match.start() - 1] == "$":
                return match[0]  # ${files.input.NAME} and the like, not a placeholder
            raise SpecError(
                path,
                f"unsupported placeholder {match[0][:60]!r} (use {{{name}}} or {{{name}:FORMAT}})",
            )
        return _formatted(value, rest[1:], match[0], path)

    return _PLACEHOLDER.sub(one, text)


def _plain(value: Value) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _formatted(value: Value, spec: str, token: str, path: Path) -> str:
    if _INT_FORMAT.fullmatch(spec):
        if not isinstance(value, int):
            raise SpecError(path, f"{token} needs an integer, got {_plain(value)[:40]!r}")
        return format(value, spec)
    if _FLOAT_FORMAT.fullmatch(spec):
        if isinstance(value, str):
            raise SpecError(path, f"{token} needs a number, got {value[:40]!r}")
        return format(float(value), spec)
    raise SpecError(path, f"unsupported format in {token[:60]!r} (use d, 03d, .2f or .2e)")
