"""RBAC rule strings: parsing, validation and literal-character globs."""

from __future__ import annotations

import random

import hypothesis
import pytest
from hypothesis import strategies as st

from teamgate.domain.identity import Principal
from teamgate.domain.policy import Facts, Grant, Resource, RuleSet, decide
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
        ("*", "", True),
        ("**", "", True),
        ("**", "a/b", True),
        ("", "", True),
        ("", "a", False),
        ("*a", "a", True),
        ("*a", "ba/a", True),
        ("*a", "ab", False),
        ("a*", "a", True),
        ("a*", "ba", False),
        ("a**b", "ab", True),
        ("a*a", "a", False),  # the head and tail may not share the name's one `a`
        ("ab*ba", "aba", False),
        ("ab*ba", "abba", True),
        ("*/*/*/*/*/readme", "a/" * 511, False),
        ("*/*/*/*/*/readme", "a/" * 511 + "readme", True),
        ("a.b/*", "aXb/c", False),
        ("*.b/*", "aXb/c", False),
        ("*\\*", "a\\b", True),  # a backslash is literal too
        ("*\\*", "a/b", False),
    ],
)
def test_pattern_matching(pattern: str, name: str, matches: bool) -> None:
    assert pattern_matches(pattern, name) is matches


def reference_match(pattern: str, name: str) -> bool:
    """Whole-name glob by dynamic programming over (pattern, name) prefixes: obviously right."""
    # reach[j]: the pattern so far matches name[:j]
    reach = [True] + [False] * len(name)
    for char in pattern:
        if char == "*":
            for j in range(1, len(name) + 1):
                reach[j] = reach[j] or reach[j - 1]
        else:
            reach = [False] + [reach[j] and name[j] == char for j in range(len(name))]
    return reach[-1]


@hypothesis.settings(max_examples=3000, deadline=None, derandomize=True)
@hypothesis.given(
    pattern=st.text(alphabet="ab/.*", max_size=10),
    name=st.text(alphabet="ab/.", max_size=12),
)
def test_pattern_matching_agrees_with_a_reference_matcher(pattern: str, name: str) -> None:
    assert pattern_matches(pattern, name) is reference_match(pattern, name)
    index = PatternIndex([(pattern, "hit")])
    assert (index.first(name) == "hit") is reference_match(pattern, name)


LONGEST = 1024  # the longest unit path, in bytes


@pytest.mark.parametrize(
    "pattern",
    ["*/*/*/*/*/readme", "*a" * 10 + "*b", "a*" * 10 + "b", "*" + "a*" * 10 + "ab"],
)
@pytest.mark.parametrize(
    "name",
    [("a/" * 512)[:LONGEST], "a/" * 508 + "readme", "a" * (LONGEST - 1) + "b", "ab" * 512],
)
def test_adversarial_patterns_on_the_longest_names_decide(pattern: str, name: str) -> None:
    """Patterns that made the old regex backtrack for hours get the right answer.

    The time they take is measured in bench/patterns.py; here only the answers are checked.
    """
    assert len(name.encode()) <= LONGEST
    expected = reference_match(pattern, name)
    assert pattern_matches(pattern, name) is expected
    held = RuleSet(
        Grant(parse_rule(text), permission="p1", role="r1")
        for text in ("allow:unit.read:*", f"deny:unit.read:{pattern}")
    )
    unit = Resource("unit", name, name)
    decision = decide(Principal("bob"), "unit.read", unit, facts=Facts(rules=held), enforce=True)
    assert decision.allowed is not expected


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


def test_rule_resources_are_matched_in_nfc() -> None:
    """A deny typed in decomposed form (macOS) still applies to the NFC unit path."""
    rule = parse_rule("deny:unit.read:cafe\u0301/*")
    assert rule.resources == ("caf\u00e9/*",)
    assert rule.matches("unit.read", "caf\u00e9/prod")


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
