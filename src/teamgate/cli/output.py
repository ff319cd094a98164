"""Rendering for the CLIs: rounded tables (as in the Torc docs), JSON and counted nouns.

Every CLI imports this module to build its commands, so the stdlib modules that click does not
load anyway (json, shutil) are imported where they are used: `--help` never needs them.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from typing import Any

import click

MIN_CELL = 8
# A cell breaks only at a space or after a comma, never inside a path, a name or a timestamp
# (`2026-12-07 02:13:04` is one word here).
_WORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d\S*|\S+")
_AFTER_COMMA = re.compile(r"(?<=,)")


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """`1 unit`, `2 units` (`plural` when adding an s is wrong)."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


def _terminal_width() -> int | None:
    """The width a table must fit in: the terminal's; None (no limit) when stdout is not a
    terminal, so that a piped or redirected table keeps every row on one line."""
    if not sys.stdout.isatty():
        return None
    columns = os.environ.get("COLUMNS")
    if columns and columns.isdigit():
        return int(columns)
    import shutil

    return shutil.get_terminal_size((120, 24)).columns


def _pieces(word: str) -> list[str]:
    """A word cut after each comma (`a,b` → `a,` `b`): the places a cell may break."""
    return [p for p in _AFTER_COMMA.split(word) if p]


def _longest_piece(text: str) -> int:
    return max((len(p) for w in _WORD.findall(text) for p in _pieces(w)), default=0)


def _fit(widths: list[int], minimums: list[int], limit: int) -> list[int]:
    """Shrink the widest columns until the table fits in `limit` characters, no column below
    its longest unbreakable piece (the table is then wider than `limit`, but readable)."""
    widths = list(widths)
    while sum(widths) + 3 * len(widths) + 1 > limit:
        shrinkable = [i for i, w in enumerate(widths) if w > minimums[i]]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1
    return widths


def _wrap(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width`, broken at spaces and after commas only."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        if len(paragraph) <= width:  # kept as written, spaces and all
            lines.append(paragraph)
            continue
        line = ""
        for word in _WORD.findall(paragraph):
            for index, piece in enumerate(_pieces(word)):
                glue = " " if index == 0 and line else ""
                if line and len(line) + len(glue) + len(piece) > width:
                    lines.append(line)
                    line = piece
                else:
                    line += glue + piece
        lines.append(line)
    return lines


def render_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], *, width: int | None = None
) -> str:
    """A table with rounded borders. On a terminal (or with `width`), cells too wide for it
    wrap at spaces and commas; piped, every row stays on one line."""
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    columns = [[h, *(c[i] for c in cells)] for i, h in enumerate(headers)]
    natural = [max(len(x) for text in col for x in text.splitlines() or [""]) for col in columns]
    limit = width or _terminal_width()
    widths = natural
    if limit is not None:
        least = [max(MIN_CELL, *map(_longest_piece, c)) for c in columns]
        widths = _fit(natural, [min(n, m) for n, m in zip(natural, least, strict=True)], limit)

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
