"""The README's settings tables tell the truth: every `[server]` key they list is a setting, every
setting is listed, and each row's flags, environment variable and default are the setting's own.

(Commands and metrics in the README are checked by tests/cli/test_readme_docs.py.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from teamgate.settings import SETTINGS, Setting

README = Path(__file__).parents[2] / "README.md"
KEY_COLUMN = "`[server]` key"
BY_NAME = {record.name: record for record in SETTINGS}


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def settings_rows(text: str) -> Iterator[dict[str, str]]:
    """Each row of every Markdown table with a `[server]` key column, as {header: cell}."""
    lines = text.splitlines()
    for at, line in enumerate(lines):
        if line.startswith("|") and KEY_COLUMN in cells(line):
            header = cells(line)
            for row in lines[at + 2 :]:
                if not row.startswith("|"):
                    break
                yield dict(zip(header, cells(row), strict=True))


def code(cell: str) -> list[str]:
    """The `code` spans of a cell."""
    return re.findall(r"`([^`]+)`", cell)


ROWS = {code(row[KEY_COLUMN])[0]: row for row in settings_rows(README.read_text())}


def test_the_readme_lists_every_setting_and_nothing_else() -> None:
    listed, real = set(ROWS), set(BY_NAME)
    assert not listed - real, f"the README lists keys that are no settings: {listed - real}"
    missing = [BY_NAME[name] for name in sorted(real - listed)]
    assert not missing, "add to the README's settings table:\n" + "\n".join(map(suggest, missing))


def suggest(record: Setting) -> str:
    flags = ", ".join(f"`{flag}`" for flag in record.flags) if record.cli else "none"
    return f"| {flags} | `{record.name}` | {record.default} | {record.help} |"


@pytest.mark.parametrize("name", sorted(ROWS), ids=str)
def test_each_row_has_the_settings_flags_env_and_default(name: str) -> None:
    record, row = BY_NAME[name], ROWS[name]
    spans = code(row["flag"])
    # `--workers N`, `--metrics/--no-metrics`: the flag is the first word, before any `/`
    flags = [span.split()[0].split("/")[0] for span in spans if span.startswith("-")]
    assert set(flags) == (set(record.flags) if record.cli else set()), row["flag"]
    assert [span for span in spans if span.startswith("TORC_")] == [record.env] * bool(record.env)
    assert code(row[KEY_COLUMN])[1:] == list(record.aliases)
    assert documents(row["default"], record.default), (row["default"], record.default)


def documents(cell: str, default: object) -> bool:
    """Whether a default column's cell states `default` (its first word, or a number)."""
    if default is None or default == ():
        return cell.startswith("none")
    if isinstance(default, tuple):  # a list: its items in code spans (`a b` or `a`, `b`)
        return [word for span in code(cell) for word in span.split()] == list(default)
    if isinstance(default, bool):
        return cell == ("on" if default else "off")
    if isinstance(default, int | float):
        number = re.match(r"[\d.]+", cell)
        return number is not None and float(number.group()) == default
    return cell.strip("`") == default
