"""RBAC rule strings: parsing, validation and literal-character globs."""

from __future__ import annotations

import random

import pytest

from teamgate.domain.rules import (
    Effect,
    PatternIndex,
    literal_prefix,
    parse_rule,
    pattern_matches,
)
from teamgate.errors import Invalid


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("dev/*", "dev/a", True),
        ("dev/*", "dev/a/b", True),
        ("dev/*", "dev", False),
        ("dev/*", "devx", False),
        ("dev/*", "dev/", True),
        ("*", "anything/at/all", True),
        ("myapp/prod", "myapp/prod", True),
        ("myapp/prod", "myapp/prod2", False),
        ("a.b/*", "aXb/c", False),
        ("a.b/*", "a.b/c", True),
        ("a+b", "aab", False),
        ("a+b", "a+b", True),
        ("x(1)", "x(1)", True),
        ("x[ab]", "xa", False),
        ("x[ab]", "x[ab]", True),
        ("q?", "qz", False),
        ("q?", "q?", True),
        ("*/prod", "team/app/prod", True),
        ("*/prod", "prod", False),
        ("a*c", "abbc", True),
        ("a*c", "abbcd", False),
    ],
)
def test_pattern_matching(pattern: str, name: str, matches: bool) -> None:
    assert pattern_matches(pattern, name) is matches


def test_parse_rule_with_lists() -> None:
    rule = parse_rule("allow:unit.read,unit.write,unit.lock:dev/*,staging/*")
    assert rule.effect is Effect.ALLOW
    assert rule.actions == ("unit.read", "unit.write", "unit.lock")
    assert rule.resources == ("dev/*", "staging/*")
    assert rule.text == "allow:unit.read,unit.write,unit.lock:dev/*,staging/*"
    assert rule.matches("unit.lock", "staging/x")
    assert not rule.matches("unit.delete", "dev/x")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("allow:unit.read", "expected 'effect:actions:resources'"),
        ("permit:unit.read:*", "unknown effect 'permit'"),
        ("allow:unit.fly:*", "unknown action 'unit.fly'"),
        ("allow::*", "empty action"),
        ("allow:unit.read:", "empty resource"),
        ("allow:unit.read,,unit.write:*", "empty action"),
    ],
)
def test_bad_rules_are_rejected_quoting_the_rule(text: str, problem: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_rule(text)
    assert problem in caught.value.message
    assert f"'{text}'" in caught.value.message


def test_literal_prefix() -> None:
    assert literal_prefix("dev/*") == "dev/"
    assert literal_prefix("a*b*") == "a"
    assert literal_prefix("exact") == "exact"


def _random_pattern(rng: random.Random) -> str:
    pieces = rng.choices(["a", "b", "/", ".", "%", "_", "*"], k=rng.randrange(0, 6))
    return "".join(pieces)


@pytest.mark.parametrize("seed", range(20))
def test_pattern_index_finds_the_first_matching_pattern_like_a_linear_scan(seed: int) -> None:
    rng = random.Random(seed)
    patterns = [_random_pattern(rng) for _ in range(rng.randrange(0, 40))]
    index = PatternIndex((pattern, n) for n, pattern in enumerate(patterns))
    for _ in range(200):
        name = "".join(rng.choices(["a", "b", "/", ".", "%", "_", "*"], k=rng.randrange(0, 7)))
        expected = next((n for n, p in enumerate(patterns) if pattern_matches(p, name)), None)
        assert index.first(name) == expected, (patterns, name)


def test_pattern_index_kinds_of_pattern() -> None:
    index = PatternIndex([("dev/app", "exact"), ("dev/*", "prefix"), ("*/prod/*", "inner")])
    assert index.first("dev/app") == "exact"
    assert index.first("dev/other") == "prefix"
    assert index.first("x/prod/y") == "inner"
    assert index.first("x/stage/y") is None
    assert index.first("") is None
    assert not PatternIndex([])
