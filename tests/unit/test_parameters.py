"""Parameter values, combinations and placeholders, as Torc's parameterization docs write them."""

from __future__ import annotations

import time

import pytest

from teamgate.domain.parameters import (
    MAX_EXPANDED,
    Parameters,
    parse_values,
    placeholders,
    substitute,
)
from teamgate.domain.spec_values import SpecError

P = ("jobs", 0, "parameters", "i")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1:5", [1, 2, 3, 4, 5]),
        ("0:100:25", [0, 25, 50, 75, 100]),
        ("10:1:-3", [10, 7, 4, 1]),
        ("0.0:1.0:0.25", [0.0, 0.25, 0.5, 0.75, 1.0]),
        ("0.0:0.3:0.1", [0.0, 0.1, 0.2, 0.3]),  # rounded as written, not 0.30000000000000004
        ("[1,5,10]", [1, 5, 10]),
        ("[0.1, 0.5]", [0.1, 0.5]),
        ("['adam', 'sgd','rmsprop']", ["adam", "sgd", "rmsprop"]),
        ('["a", b]', ["a", "b"]),
        ("{1:3}", [1, 2, 3]),
        ("7", [7]),
        ("abc", ["abc"]),
        (3, [3]),
    ],
)
def test_values(text: object, expected: list[object]) -> None:
    values = parse_values(text, P)
    assert list(values) == expected
    assert values.count == len(expected)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("1:5:0", "cannot be zero"),
        ("5:1", "no values"),
        ("1:x", "invalid range"),
        ("[]", "no values"),
        ("1:1000000000", f"more than {MAX_EXPANDED}"),
        ("0:1:0.0000000001", f"more than {MAX_EXPANDED}"),
        (True, "expected a string"),
        ([1, 2], "expected a string"),
    ],
)
def test_bad_values(text: object, problem: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_values(text, P)
    assert problem in caught.value.message
    assert caught.value.path == P


def test_a_huge_range_is_refused_without_building_it() -> None:
    started = time.perf_counter()
    with pytest.raises(SpecError):
        parse_values("1:999999999999999999", P)
    assert time.perf_counter() - started < 0.1


def test_product_varies_the_last_parameter_fastest_and_zip_pairs() -> None:
    a, b = parse_values("[1,2]", P), parse_values("['x','y','z']", P)
    product = Parameters(("a", "b"), (a, b))
    assert product.count == 6
    assert [(c["a"], c["b"]) for c in product.combinations()] == [
        (1, "x"), (1, "y"), (1, "z"), (2, "x"), (2, "y"), (2, "z"),
    ]  # fmt: skip
    c = parse_values("['p','q']", P)
    zipped = Parameters(("a", "c"), (a, c), zip=True)
    assert [(x["a"], x["c"]) for x in zipped.combinations()] == [(1, "p"), (2, "q")]


@pytest.mark.parametrize(
    ("template", "combo", "expected"),
    [
        ("job_{i:03d}", {"i": 5}, "job_005"),
        ("job_{i}", {"i": 5}, "job_5"),
        ("lr{lr:.4f}", {"lr": 0.001}, "lr0.0010"),
        ("lr{lr:.2e}", {"lr": 0.001}, "lr1.00e-03"),
        ("lr{lr}", {"lr": 0.5}, "lr0.5"),
        ("{i:.2f}", {"i": 3}, "3.00"),
        ("{a}_{b}_{a}", {"a": "x", "b": 2}, "x_2_x"),
        # braces that name no parameter are text: awk programs, shell, JSON
        ("awk '{print $1}' {i}", {"i": 1}, "awk '{print $1}' 1"),
        ("echo ${HOME} {j}", {"i": 1}, "echo ${HOME} {j}"),
        ('{"k": {i}}', {"i": 2}, '{"k": 2}'),
        ("${files.input.f_{i}}", {"i": 2}, "${files.input.f_2}"),
        ("{i", {"i": 1}, "{i"),
        ("{i:>{w}}", {"i": 1}, "{i:>{w}}"),  # nested braces are never a placeholder
    ],
)
def test_substitute(template: str, combo: dict[str, object], expected: str) -> None:
    assert substitute(template, combo, P) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("template", "combo", "problem"),
    [
        ("{i.__class__}", {"i": 1}, "unsupported placeholder"),
        ("{i[0]}", {"i": "ab"}, "unsupported placeholder"),
        ("{i!r}", {"i": 1}, "unsupported placeholder"),
        ("{i:x}", {"i": 1}, "unsupported format"),
        ("{i:,}", {"i": 1}, "unsupported format"),
        ("{i:03d}", {"i": "adam"}, "needs an integer"),
        ("{i:03d}", {"i": 0.5}, "needs an integer"),
        ("{i:.2f}", {"i": "adam"}, "needs a number"),
    ],
)
def test_bad_placeholders(template: str, combo: dict[str, object], problem: str) -> None:
    with pytest.raises(SpecError) as caught:
        substitute(template, combo, P)  # type: ignore[arg-type]
    assert problem in caught.value.message


def test_placeholders_found() -> None:
    assert placeholders("job_{i:03d}_{x}_{other}", ["i", "x"]) == {"i", "x"}
    assert placeholders("aggregate", ["i"]) == set()


def test_placeholder_scan_is_linear_on_hostile_text() -> None:
    text = "{" + "a" * 60000
    started = time.perf_counter()
    assert substitute(text, {"a": 1}, P) == text
    assert substitute("{a" * 30000, {"a": 1}, P) == "{a" * 30000
    assert time.perf_counter() - started < 0.5
