"""Spec files: YAML, JSON and JSON5 read by the CLI, problems reported on the field's line."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from teamgate.cli.specs import load_spec_file, locate_server_error, parse_field_path

YAML = """\
name: w
parameters:
  n: "1:3"
jobs:
  - name: make_{n}
    command: echo {n} > ${files.output.out_{n}}
    use_parameters: [n]
  - name: collect
    command: cat out_*.txt
    input_files:
      - out_{n}
    use_parameters: [n]
  - name: last
    command: echo done
    env:
      MODE: fast
    depends_on:
      - collect
files:
  - name: out_{n}
    path: out_{n}.txt
    use_parameters: [n]
"""


def failure(tmp_path: Path, text: str, filename: str = "spec.yaml") -> str:
    path = tmp_path / filename
    path.write_text(text)
    with pytest.raises(click.ClickException) as caught:
        load_spec_file(path)
    message = caught.value.message
    assert "\n" not in message
    assert message.startswith(str(path))
    return message


def line_of(text: str, marker: str) -> int:
    found = [n for n, line in enumerate(text.splitlines(), 1) if marker in line]
    assert len(found) == 1, (marker, found)
    return found[0]


def test_the_good_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(YAML)
    assert load_spec_file(path)["name"] == "w"


@pytest.mark.parametrize(
    ("old", "new", "marker", "fragment"),
    [
        (
            "- collect",
            "- collector",
            "- collector",
            "jobs[2].depends_on[0]: unknown job 'collector'",
        ),
        ("MODE: fast", "MODE: [1]", "MODE", "jobs[2].env.MODE"),
        (
            "out_{n}}\n    use",
            "outt_{n}}\n    use",
            "outt_",
            "jobs[0].command: unknown file 'outt_1'",
        ),
        (
            "- out_{n}\n",
            "- out_{n}\n      - extra\n",
            "extra",
            "jobs[1].input_files[1]: unknown file 'extra'",
        ),
        ('n: "1:3"', 'n: "3:1"', 'n: "3:1"', "parameters.n: the range has no values"),
        (
            "use_parameters: [n]\n  - name: last",
            "use_parameters: [m]\n  - name: last",
            "[m]",
            "jobs[1].use_parameters[0]",
        ),
        ("echo done", "echo {n} done\n    parameters: {n: '1:2'}", "done", "jobs[2].command"),
        ("path: out_{n}.txt", "path: [out]", "path: [out]", "files[0].path"),
        (
            "    depends_on:\n      - collect",
            "    depends_on:\n      - last",
            "- last",
            "cannot depend on itself",
        ),
    ],
)
def test_yaml_problems_name_the_line(
    tmp_path: Path, old: str, new: str, marker: str, fragment: str
) -> None:
    assert old in YAML
    text = YAML.replace(old, new, 1)
    message = failure(tmp_path, text)
    assert f", line {line_of(text, marker)}: " in message, message
    assert fragment in message


def test_a_cycle_names_the_line_of_a_job_on_it(tmp_path: Path) -> None:
    text = YAML.replace("command: echo done", "command: echo done > ${files.output.out_1}")
    message = failure(tmp_path, text)
    # collect reads out_1, which last now writes too; last waits for collect
    assert "dependency cycle (each job waits for the next): collect -> last -> collect" in message
    assert f", line {line_of(text, 'depends_on:')}: jobs[2].depends_on" in message, message


JSON5 = """\
// a JSON5 spec, as Torc's examples write them
{
  name: "w",
  /* two jobs,
     the second after the first */
  jobs: [
    {name: 'a', command: "echo a"},
    {
      name: "b",
      command: "echo b",
      depends_on: ["a",],  // trailing commas are fine
    },
  ],
}
"""


def test_json5_loads(tmp_path: Path) -> None:
    path = tmp_path / "spec.json5"
    path.write_text(JSON5)
    data = load_spec_file(path)
    assert [j["name"] for j in data["jobs"]] == ["a", "b"]
    json.dumps(data)  # what the CLI sends


def test_json5_problems_name_the_line(tmp_path: Path) -> None:
    text = JSON5.replace('["a",]', '["z",]')
    message = failure(tmp_path, text, "spec.json5")
    line = line_of(text, '["z",]')
    assert f", line {line}: " in message, message
    assert "unknown job 'z'" in message


def test_json5_syntax_errors(tmp_path: Path) -> None:
    message = failure(tmp_path, JSON5.replace('"echo a"}', '"echo a"'), "spec.json5")
    assert "invalid JSON5" in message


def test_json_problems_name_the_line(tmp_path: Path) -> None:
    data = {"name": "w", "jobs": [{"name": "a", "command": "x", "priority": "high"}]}
    text = json.dumps(data, indent=2)
    message = failure(tmp_path, text, "spec.json")
    assert f", line {line_of(text, 'priority')}: jobs[0].priority" in message


def test_other_extensions_are_tried_as_json_json5_then_yaml(tmp_path: Path) -> None:
    for name, text in [("a.spec", '{"name": "j"}'), ("b.spec", "{name: 'j5'}"), ("c", YAML)]:
        path = tmp_path / name
        path.write_text(text)
        assert load_spec_file(path)["name"] in {"j", "j5", "w"}


def test_yml_extension_is_yaml(tmp_path: Path) -> None:
    message = failure(tmp_path, "name: w\njobs: nope\n", "spec.yml")
    assert "line 2: jobs" in message


def test_server_errors_map_to_lines(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    message = "jobs[2].depends_on[0]: unknown job 'collect'"
    assert locate_server_error(path, YAML, message) == (
        f"{path}, line {line_of(YAML, '- collect')}: {message}"
    )
    assert locate_server_error(path, YAML, "workflow name is taken") == (
        f"{path}: workflow name is taken"
    )


def test_parse_field_path() -> None:
    assert parse_field_path("jobs[3].depends_on[0]") == ("jobs", 3, "depends_on", 0)
    assert parse_field_path("parameters.n") == ("parameters", "n")
    assert parse_field_path("name") == ("name",)
