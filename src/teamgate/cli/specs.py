"""Read a workflow spec file (YAML or JSON) and report problems with their line numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import yaml

from teamgate.domain.workflows import Path as FieldPath
from teamgate.domain.workflows import SpecError, parse_spec

MAX_SPEC_BYTES = 10 * 1024 * 1024


def load_spec_file(path: Path) -> dict[str, Any]:
    """Parse and validate a spec file; raise ClickException naming the file, line and field."""
    try:
        if path.stat().st_size > MAX_SPEC_BYTES:
            raise click.ClickException(f"{path}: larger than {MAX_SPEC_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise click.ClickException(f"{path}: not a UTF-8 text file") from None
    data = _parse(path, text)
    try:
        parse_spec(data)
    except SpecError as exc:
        line = _line_of(text, exc.path)
        where = f"{path}, line {line}" if line else str(path)
        raise click.ClickException(f"{where}: {exc.message}") from None
    assert isinstance(data, dict)
    return data


def _parse(path: Path, text: str) -> Any:
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise click.ClickException(
                f"{path}, line {exc.lineno}: invalid JSON: {exc.msg}"
            ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise click.ClickException(f"{where}: invalid YAML: {problem}") from None


def _line_of(text: str, path: FieldPath) -> int | None:
    """The 1-based line of the field at `path` (or of its nearest existing parent)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
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
