"""Rendering for the CLIs: rounded tables (as in the Torc docs) and JSON.

Every CLI imports this module to build its commands, so the stdlib modules that click does not
load anyway (json, shutil, textwrap) are imported where they are used: `--help` never needs them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import click

MIN_CELL = 8


def _terminal_width() -> int:
    columns = os.environ.get("COLUMNS")
    if columns and columns.isdigit():
        return int(columns)
    import shutil

    return shutil.get_terminal_size((120, 24)).columns


def _fit(widths: list[int], limit: int) -> list[int]:
    """Shrink the widest columns until the table fits in `limit` characters."""
    widths = list(widths)
    while sum(widths) + 3 * len(widths) + 1 > limit:
        widest = max(range(len(widths)), key=lambda i: widths[i])
        if widths[widest] <= MIN_CELL:
            break
        widths[widest] -= 1
    return widths


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        lines.extend(textwrap.wrap(paragraph, width, break_long_words=True) or [""])
    return lines


def render_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], *, width: int | None = None
) -> str:
    """A table with rounded borders; cells wider than the terminal allows wrap."""
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    natural = [
        max([len(h)] + [max((len(x) for x in c[i].splitlines()), default=0) for c in cells])
        for i, h in enumerate(headers)
    ]
    widths = _fit(natural, width or _terminal_width())

    def border(left: str, mid: str, right: str) -> str:
        return left + mid.join("─" * (w + 2) for w in widths) + right

    def line(values: Sequence[str]) -> list[str]:
        wrapped = [_wrap(v, w) for v, w in zip(values, widths, strict=True)]
        height = max(len(w) for w in wrapped)
        out = []
        for k in range(height):
            parts = [
                (wrapped[i][k] if k < len(wrapped[i]) else "").ljust(widths[i])
                for i in range(len(widths))
            ]
            out.append("│ " + " │ ".join(parts) + " │")
        return out

    lines = [border("╭", "┬", "╮"), *line(list(headers)), border("├", "┼", "┤")]
    for row in cells:
        lines.extend(line(row))
    lines.append(border("╰", "┴", "╯"))
    return "\n".join(lines)


def dumps(value: Any) -> str:
    import json

    return json.dumps(value, indent=2, ensure_ascii=False)


def echo_json(value: Any) -> None:
    click.echo(dumps(value))
