"""Read a workflow spec file (YAML, JSON or JSON5) and report problems with their line numbers.

The format follows the file's extension as in Torc: `.json`, `.json5`, `.yaml`/`.yml`; any other
extension is tried as JSON, then JSON5, then YAML. A problem is reported on one line as
`FILE, line N: FIELD: PROBLEM`, the line being the one the field is written on; the server's
own spec errors (`jobs[3].depends_on[0]: unknown job 'x'`) map to a line the same way
(`locate_server_error`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click
import yaml

from teamgate.domain.workflows import Path as FieldPath
from teamgate.domain.workflows import SpecError, parse_spec

MAX_SPEC_BYTES = 10 * 1024 * 1024
_FIELD_PATH = re.compile(
    r"([A-Za-z_][A-Za-z0-9_]*)((?:\[[0-9]{1,9}\]|\.[A-Za-z_][A-Za-z0-9_]*)*): "
)
_STEP = re.compile(r"\[([0-9]+)\]|\.([A-Za-z_][A-Za-z0-9_]*)")


def load_spec_file(path: Path) -> dict[str, Any]:
    """Parse and validate a spec file; raise ClickException naming the file, line and field."""
    text = read_spec_text(path)
    data = _parse(path, text)
    try:
        parse_spec(data)
    except SpecError as exc:
        raise click.ClickException(_where(path, text, exc.path) + exc.message) from None
    assert isinstance(data, dict)
    return data


def read_spec_text(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_SPEC_BYTES:
            raise click.ClickException(f"{path}: larger than {MAX_SPEC_BYTES} bytes")
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise click.ClickException(f"{path}: not a UTF-8 text file") from None


def locate_server_error(path: Path, text: str, message: str) -> str:
    """The server's message for a spec problem, with the file and the field's line in front
    (`FILE, line N: jobs[3].depends_on[0]: unknown job 'x'`); `FILE: message` when the message
    names no field."""
    found = _FIELD_PATH.match(message)
    if not found:
        return f"{path}: {message}"
    return _where(path, text, parse_field_path(found[1] + found[2])) + message


def parse_field_path(text: str) -> FieldPath:
    """`jobs[3].depends_on[0]` → `("jobs", 3, "depends_on", 0)`."""
    first = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text)
    if not first:
        return ()
    parts: list[str | int] = [first[0]]
    for index, name in _STEP.findall(text[first.end() :]):
        parts.append(int(index) if index else name)
    return tuple(parts)


def _where(path: Path, text: str, field: FieldPath) -> str:
    line = _line_of(text, field, json5=_format(path) == "json5")
    return f"{path}, line {line}: " if line else f"{path}: "


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    return {".json": "json", ".json5": "json5", ".yaml": "yaml", ".yml": "yaml"}.get(suffix, "")


def _parse(path: Path, text: str) -> Any:
    kind = _format(path)
    if kind == "json":
        return _json(path, text)
    if kind == "json5":
        return _json5(path, text)
    if kind == "yaml":
        return _yaml(path, text)
    for reader in (_json, _json5):
        try:
            return reader(path, text)
        except click.ClickException:
            pass
    return _yaml(path, text)


def _json(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"{path}, line {exc.lineno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise click.ClickException(f"{path}: invalid JSON: nested too deeply") from None


def _json5(path: Path, text: str) -> Any:
    import json5

    try:
        return json5.loads(text)
    except ValueError as exc:
        found = re.search(r"<string>:(\d+)", str(exc))
        where = f"{path}, line {found[1]}" if found else str(path)
        problem = str(exc).split(": ", 1)[-1].splitlines()[0] if str(exc) else "syntax error"
        raise click.ClickException(f"{where}: invalid JSON5: {problem}") from None
    except RecursionError:
        raise click.ClickException(f"{path}: invalid JSON5: nested too deeply") from None


def _yaml(path: Path, text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise click.ClickException(f"{where}: invalid YAML: {problem}") from None
    except RecursionError:
        raise click.ClickException(f"{path}: invalid YAML: nested too deeply") from None


def _line_of(text: str, path: FieldPath, *, json5: bool = False) -> int | None:
    """The 1-based line of the field at `path` (or of its nearest existing parent).

    JSON is YAML, so one YAML composer finds lines in both; JSON5 comments are blanked first
    (keeping every line break), which leaves the rest readable as YAML's flow style."""
    try:
        node = yaml.compose(_without_comments(text) if json5 else text)
    except (yaml.YAMLError, RecursionError):
        return None
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in path:
        step = _child(node, part)
        if step is None:
            break
        key, node = step
        # a mapping key's own line names the field, even when its value is a block below it
        line = (key or node).start_mark.line + 1
    return line


def _without_comments(text: str) -> str:
    """JSON5 text with `//` and `/* */` comments replaced by spaces (line breaks kept)."""
    out: list[str] = []
    i, n, quote = 0, len(text), ""
    while i < n:
        c = text[i]
        if quote:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
            out.append(c)
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:end]))
            i = end
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node | None, yaml.Node] | None:
    """(key node or None, value node) of `part` inside a mapping or sequence node."""
    if isinstance(node, yaml.MappingNode) and isinstance(part, str):
        for key, value in node.value:
            if key.value == part:
                return key, value
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        item: yaml.Node = node.value[part]
        return None, item
    return None
