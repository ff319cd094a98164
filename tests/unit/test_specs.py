"""Reading workflow specs: each feature of Torc's spec format, and each error naming its field."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from teamgate.cli.specs import load_spec_file
from teamgate.domain.workflows import JobSpec, SpecError, WorkflowSpec, parse_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def spec(text: str) -> WorkflowSpec:
    return parse_spec(yaml.safe_load(text))


def jobs(text: str) -> dict[str, JobSpec]:
    return {job.name: job for job in spec(text).jobs}


def error(text: str | dict[str, Any]) -> SpecError:
    with pytest.raises(SpecError) as caught:
        parse_spec(yaml.safe_load(text) if isinstance(text, str) else text)
    return caught.value


def example(name: str) -> WorkflowSpec:
    return parse_spec(load_spec_file(EXAMPLES / name))


# -- the examples --------------------------------------------------------------------------------


def test_hello_world_is_two_independent_jobs() -> None:
    parsed = example("hello.yaml")
    assert [(j.name, j.depends_on) for j in parsed.jobs] == [("job 1", ()), ("job 2", ())]
    assert parsed.jobs[0].command == 'echo "Hello from torc!"'


def test_many_jobs_is_100_zero_padded_jobs() -> None:
    parsed = example("many_jobs.yaml")
    assert [j.name for j in parsed.jobs] == [f"job_{i:03d}" for i in range(1, 101)]
    assert all(j.depends_on == () and j.resource_requirements == "minimal" for j in parsed.jobs)
    assert 'echo "Running job 7"' in parsed.jobs[6].command


def test_diamond_dependencies_come_from_its_files() -> None:
    parsed = example("diamond.yaml")
    deps = {j.name: j.depends_on for j in parsed.jobs}
    assert deps == {
        "generate": (),
        "preprocess": ("generate",),
        "work1": ("preprocess",),
        "work2": ("preprocess",),
        "postprocess": ("work1", "work2"),
    }
    post = parsed.jobs[-1]
    assert post.input_files == ("result1", "result2")
    assert post.output_files == ("final_output",)
    assert "${files" not in post.command
    assert "diamond_output/result1.txt diamond_output/result2.txt" in post.command
    assert "awk '{print $1}'" in parsed.jobs[1].command
    assert {f.name: f.path for f in parsed.files}["final_output"] == "diamond_output/output.txt"


def test_aggregate_is_one_job_waiting_for_every_expansion() -> None:
    parsed = example("process_then_aggregate.yaml")
    names = [j.name for j in parsed.jobs]
    assert names == [f"process_{i}" for i in range(1, 6)] + ["aggregate"]
    assert parsed.jobs[-1].depends_on == tuple(f"process_{i}" for i in range(1, 6))


def test_learning_rate_sweep_chains_each_rate() -> None:
    parsed = example("learning_rate_sweep.yaml")
    deps = {j.name: j.depends_on for j in parsed.jobs}
    assert len(parsed.jobs) == 11 and len(parsed.files) == 10
    assert deps["evaluate_lr0.0010"] == ("train_lr0.0010",)
    assert deps["compare_results"] == tuple(
        f"evaluate_lr{lr:.4f}" for lr in (0.0001, 0.0005, 0.001, 0.005, 0.01)
    )


def test_user_data_links_jobs_and_is_substituted_as_json() -> None:
    parsed = example("user_data.yaml")
    deps = {j.name: j.depends_on for j in parsed.jobs}
    assert deps == {
        "generate_config": (),
        "train_model": ("generate_config",),
        "evaluate_model": ("generate_config",),
    }
    assert parsed.user_data[0].data == {"learning_rate": 0.001, "batch_size": 32}
    assert '{"learning_rate":0.001,"batch_size":32}' in parsed.jobs[1].command
    assert parsed.jobs[1].input_user_data == ("ml_config",)
    assert parsed.jobs[0].output_user_data == ("ml_config",)


# -- job fields ------------------------------------------------------------------------------------


def test_job_fields_and_their_defaults() -> None:
    found = jobs("""
name: w
jobs:
  - name: a
    command: run a
  - name: b
    command: run b
    depends_on: [a]
    env: {ZED: "1", ALPHA: two, N: 3}
    priority: 10
    cancel_on_blocking_job_failure: true
    supports_termination: true
    invocation_script: bash wrap.sh
    resource_requirements: big
resource_requirements:
  - {name: big, num_cpus: 4, num_gpus: 1, num_nodes: 2, memory: 8g, runtime: P1DT2H}
""")
    a, b = found["a"], found["b"]
    assert (a.priority, a.env, a.cancel_on_blocking_job_failure, a.supports_termination) == (
        0,
        (),
        False,
        False,
    )
    assert b.depends_on == ("a",)
    assert b.env == (("ALPHA", "two"), ("N", "3"), ("ZED", "1"))
    assert (b.priority, b.cancel_on_blocking_job_failure, b.supports_termination) == (
        10,
        True,
        True,
    )
    assert (b.invocation_script, b.resource_requirements) == ("bash wrap.sh", "big")


@pytest.mark.parametrize(
    ("memory", "ok"),
    [
        *[("8g", True), ("512m", True), ("100K", True), (1048576, True), ("1t", True)],
        *[("1.5g", False), ("8gb", False), ("lots", False), ("99999999999t", False), (True, False)],
    ],
)
def test_memory(memory: Any, ok: bool) -> None:
    data = {"name": "w", "resource_requirements": [{"name": "r", "num_cpus": 1, "memory": memory}]}
    if ok:
        assert parse_spec(data).resource_requirements[0].memory == str(memory)
    else:
        assert error(data).path == ("resource_requirements", 0, "memory")


@pytest.mark.parametrize(
    ("runtime", "ok"),
    [
        *[("PT30M", True), ("P1DT2H", True), ("PT1.5S", True), ("P2W", True), ("P1Y2M", True)],
        *[("P", False), ("PT", False), ("30m", False), ("P1H", False), (30, False)],
    ],
)
def test_runtime(runtime: Any, ok: bool) -> None:
    rr = {"name": "r", "num_cpus": 1, "memory": "1g", "runtime": runtime}
    data = {"name": "w", "resource_requirements": [rr]}
    if ok:
        assert parse_spec(data).resource_requirements[0].runtime == runtime
    else:
        assert error(data).path == ("resource_requirements", 0, "runtime")


# -- parameters ------------------------------------------------------------------------------------


def test_product_and_zip_in_the_order_written() -> None:
    text = """
name: w
jobs:
  - name: train_{dataset}_{model}
    command: python train.py --dataset={dataset} --model={model}
    parameters:
      dataset: "['cifar10', 'mnist', 'imagenet']"
      model: "['resnet', 'vgg', 'transformer']"
"""
    product = list(jobs(text))
    assert len(product) == 9
    assert product[:3] == ["train_cifar10_resnet", "train_cifar10_vgg", "train_cifar10_transformer"]
    zipped = list(jobs(text + "    parameter_mode: zip\n"))
    assert zipped == ["train_cifar10_resnet", "train_mnist_vgg", "train_imagenet_transformer"]
    assert jobs(text)["train_mnist_vgg"].command == "python train.py --dataset=mnist --model=vgg"


def test_zip_needs_equal_lengths() -> None:
    exc = error("""
name: w
jobs:
  - name: j_{a}_{b}
    command: x
    parameters: {a: "[1,2,3]", b: "[1,2]"}
    parameter_mode: zip
""")
    assert exc.path == ("jobs", 0, "parameters")
    assert "'a' has 3, 'b' has 2" in exc.message


def test_shared_parameters_and_local_override() -> None:
    found = jobs("""
name: w
parameters:
  lr: "[0.0001,0.001,0.01]"
  bs: "[16,32]"
jobs:
  - name: train_lr{lr:.4f}_bs{bs}
    command: train {lr} {bs}
    use_parameters: [lr, bs]
  - name: special_lr{lr:.4f}
    command: special
    parameters:
      lr: "[0.5]"
    use_parameters: [lr]
""")
    assert len(found) == 7
    assert found["train_lr0.0010_bs32"].command == "train 0.001 32"
    assert "special_lr0.5000" in found


def test_parameterised_dependencies_are_one_to_one() -> None:
    found = jobs("""
name: w
jobs:
  - name: generate_{config}
    command: gen {config}
    parameters: {config: "['A','B','C']"}
  - name: process_{config}
    command: proc {config}
    depends_on: ["generate_{config}"]
    parameters: {config: "['A','B','C']"}
""")
    assert found["process_B"].depends_on == ("generate_B",)


def test_parameterised_files_and_user_data() -> None:
    parsed = spec("""
name: w
jobs:
  - name: train_{i}
    command: train > ${files.output.model_{i}}
    parameters: {i: "1:3"}
  - name: eval_{i}
    command: eval ${files.input.model_{i}} ${user_data.input.config_{i}}
    parameters: {i: "1:3"}
files:
  - name: model_{i}
    path: /models/model_{i}.pt
    parameters: {i: "1:3"}
user_data:
  - name: config_{i}
    data: {run: "{i}", fixed: 1}
    parameters: {i: "1:3"}
""")
    found = {j.name: j for j in parsed.jobs}
    assert found["eval_2"].depends_on == ("train_2",)
    assert found["eval_2"].command == 'eval /models/model_2.pt {"run":"2","fixed":1}'
    assert [u.data for u in parsed.user_data][1] == {"run": "2", "fixed": 1}


def test_a_parameter_left_out_of_the_name_must_not_change_the_command() -> None:
    exc = error("""
name: w
jobs:
  - name: aggregate
    command: echo {i}
    parameters: {i: "1:3"}
""")
    assert exc.path == ("jobs", 0, "command")
    assert "same job name 'aggregate'" in exc.message


def test_expansion_is_bounded_before_it_is_built() -> None:
    started = time.perf_counter()
    exc = error("""
name: w
jobs:
  - name: a_{i}_{j}
    command: x
    parameters: {i: "1:100000", j: "1:100000"}
""")
    assert exc.path == ("jobs", 0, "parameters")
    exc = error("""
name: w
jobs:
  - name: a_{i}
    command: x
    parameters: {i: "1:60000"}
files:
  - name: f_{i}
    path: f
    parameters: {i: "1:60000"}
""")
    assert exc.path == ("jobs", 0) and "100000" in exc.message
    assert time.perf_counter() - started < 5  # 10 billion combinations were never built


def test_implied_dependencies_are_bounded() -> None:
    # 2,000 writers and 1,000 readers of one file would be 2,000,000 edges
    exc = error("""
name: w
jobs:
  - {name: "w_{i}", command: "x > ${files.output.log}", parameters: {i: "1:2000"}}
  - {name: "r_{i}", command: "cat ${files.input.log}", parameters: {i: "1:1000"}}
files: [{name: log, path: log.txt}]
""")
    assert "more than 1000000 dependencies" in exc.message


# -- errors name the field -------------------------------------------------------------------------

BASE = """
name: w
jobs:
  - {name: a, command: run a}
  - {name: b, command: "cat ${files.input.f}", depends_on: [a]}
files:
  - {name: f, path: f.txt}
"""


@pytest.mark.parametrize(
    ("old", "new", "path", "fragment"),
    [
        ("depends_on: [a]", "depends_on: [x]", ("jobs", 1, "depends_on", 0), "unknown job 'x'"),
        ("depends_on: [a]", "depends_on: [b]", ("jobs", 1, "depends_on", 0), "itself"),
        ("files.input.f}", "files.input.g}", ("jobs", 1, "command"), "unknown file 'g'"),
        ("files.input.f}", "files.inptu.f}", ("jobs", 1, "command"), "invalid reference"),
        ("files.input.f}", "user_data.input.u}", ("jobs", 1, "command"), "unknown user data"),
        ("depends_on: [a]", "input_files: [nope]", ("jobs", 1, "input_files", 0), "nope"),
        ("depends_on: [a]", "output_user_data: [u]", ("jobs", 1, "output_user_data", 0), "'u'"),
        ("depends_on: [a]", "env: [A]", ("jobs", 1, "env"), "mapping"),
        ("depends_on: [a]", "env: {A: [1]}", ("jobs", 1, "env", "A"), "string"),
        ("depends_on: [a]", "priority: high", ("jobs", 1, "priority"), "integer"),
        (
            "depends_on: [a]",
            "depends_on_regexes: ['^a']",
            ("jobs", 1, "depends_on_regexes"),
            "not supported",
        ),
        ("depends_on: [a]", "parameter_mode: diagonal", ("jobs", 1, "parameter_mode"), "zip"),
        ("depends_on: [a]", "use_parameters: [zz]", ("jobs", 1, "use_parameters", 0), "zz"),
        (
            "depends_on: [a]",
            "parameters: {1x: '1:2'}",
            ("jobs", 1, "parameters", "1x"),
            "parameter name",
        ),
        ("name: a,", "name: b,", ("jobs", 1, "name"), "duplicate job name 'b'"),
        ("path: f.txt}", "path: f.txt}\n  - {name: f, path: g}", ("files", 1, "name"), "duplicate"),
        ("command: run a}", "command: run a, colour: red}", ("jobs", 0, "colour"), "unknown field"),
        (
            "files:",
            "user_data:\n  - {name: u, data: 2024-01-01}\nfiles:",
            ("user_data", 0, "data"),
            "JSON",
        ),
    ],
)
def test_errors_name_the_field(old: str, new: str, path: tuple[Any, ...], fragment: str) -> None:
    assert old in BASE
    exc = error(BASE.replace(old, new, 1))
    assert exc.path == path, exc.message
    assert fragment in exc.message


def test_duplicate_names_from_expansion_name_both_entries() -> None:
    exc = error("""
name: w
jobs:
  - {name: "t_{i}", command: x, parameters: {i: "1:3"}}
  - {name: t_2, command: y}
""")
    assert exc.path == ("jobs", 1, "name")
    assert "jobs[0] is also named 't_2'" in exc.message


def test_unknown_dependency_of_an_expanded_job_names_its_template() -> None:
    exc = error("""
name: w
jobs:
  - {name: "p_{i}", command: x, parameters: {i: "1:3"}}
  - {name: "q_{i}", command: y, depends_on: ["p_{i}"], parameters: {i: "1:4"}}
""")
    assert exc.path == ("jobs", 1, "depends_on", 0)
    assert "unknown job 'p_4'" in exc.message and "q_{i}" in exc.message


def test_a_cycle_is_named() -> None:
    exc = error("""
name: w
jobs:
  - {name: a, command: x, depends_on: [c]}
  - {name: b, command: x, depends_on: [a]}
  - {name: c, command: x, depends_on: [b]}
""")
    assert "a -> c -> b -> a" in exc.message
    assert exc.path[:1] == ("jobs",) and exc.path[-1] == "depends_on"


def test_a_cycle_through_files_is_named() -> None:
    exc = error("""
name: w
jobs:
  - {name: a, command: "cat ${files.input.y} > ${files.output.x}"}
  - {name: b, command: "cat ${files.input.x} > ${files.output.y}"}
files: [{name: x, path: x}, {name: y, path: y}]
""")
    assert "a -> b -> a" in exc.message


def test_a_job_reading_its_own_output_does_not_wait_for_itself() -> None:
    found = jobs("""
name: w
jobs:
  - {name: a, command: "cat ${files.input.x} >> ${files.output.x}"}
files: [{name: x, path: x}]
""")
    assert found["a"].depends_on == ()


def test_a_long_chain_is_checked_without_recursion() -> None:
    parsed = spec("""
name: w
jobs:
  - name: s_{i}
    command: cat ${files.input.f_{i}} > ${files.output.f_{j}}
    parameters: {i: "1:5000", j: "2:5001"}
    parameter_mode: zip
files:
  - {name: "f_{i}", path: "f{i}", parameters: {i: "1:5001"}}
""")
    assert parsed.jobs[-1].depends_on == ("s_4999",)


def test_nothing_is_expanded_before_the_whole_workflow_is_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from teamgate.domain import spec_expand

    def expanded(*args: object) -> str:
        raise AssertionError("expanded before counting")

    monkeypatch.setattr(spec_expand, "substitute", expanded)
    exc = error("""
name: w
files:
  - {name: "f_{i}", path: f, parameters: {i: "1:60000"}}
jobs:
  - {name: "a_{i}", command: x, parameters: {i: "1:60000"}}
""")
    assert exc.path == ("jobs", 0) and "more than 100000" in exc.message


def test_expanded_commands_are_bounded_in_total() -> None:
    # 10,000 jobs each given a copy of 10,000 characters of user data: 100 million characters
    exc = error(
        {
            "name": "w",
            "user_data": [{"name": "big", "data": "x" * 10_000}],
            "jobs": [
                {
                    "name": "j_{i}",
                    "command": "echo ${user_data.input.big}",
                    "parameters": {"i": "1:10000"},
                }
            ],
        }
    )
    assert exc.path == ("jobs", 0, "command")
    assert "more than 67108864 characters" in exc.message
