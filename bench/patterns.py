"""Decision time for adversarial RBAC patterns on the longest unit paths, beside ordinary ones.

    python bench/patterns.py [--repeat 2000]

Each row gives bob a RuleSet with `allow:unit.read:*` and one deny rule on the pattern, so
every decision matches the pattern against the name (deny rules run on every request). The
names are 1024 bytes, the longest unit path. Adversarial patterns have 10 inner `*`: a
regex with `.*` between the pieces backtracks on them for longer than anyone waits (one
froze the server); the glob matcher finds each piece once. The ratio is of medians, to
the exact row; p99 includes whatever else the (shared) machine was doing.
"""

from __future__ import annotations

import argparse
import statistics
import time

from teamgate.domain.identity import Principal
from teamgate.domain.policy import Facts, Grant, Resource, RuleSet, decide
from teamgate.domain.rules import parse_rule

LONGEST = 1024  # bytes in the longest unit path
ROWS: list[tuple[str, str, str]] = [
    # (label, pattern, name)
    ("exact", "dev/" + "x" * (LONGEST - 4), "dev/" + "x" * (LONGEST - 4)),
    ("exact, other name", "dev/" + "x" * (LONGEST - 4), "dev/" + "x" * (LONGEST - 5) + "y"),
    ("dev/*", "dev/*", "dev/" + "x" * (LONGEST - 4)),
    ("*/prod", "*/prod", "a/" * 509 + "prod"),
    ("*/*/*/*/*/readme (the reported freeze)", "*/*/*/*/*/readme", "a/" * 512),
    ("*/*/*/*/*/readme, ends match", "*/*/*/*/*/readme", "a" * (LONGEST - 7) + "/readme"),
    ("*a*a*a*a*a*a*a*a*a*a*b (10 inner *)", "*a" * 10 + "*b", "a" * (LONGEST - 1) + "b"),
    ("a*a*a*a*a*a*a*a*a*a*b, no b", "a*" * 10 + "b", "a" * LONGEST),
    ("*ab*ab*…*ab*c, no c", "*ab" * 10 + "*c", "ab" * (LONGEST // 2)),
    ("*a{20}*a{20}*… (near misses)", ("*" + "a" * 20) * 10 + "*b", ("a" * 19 + "b") * 51 + "b"),
]


def facts_for(pattern: str) -> Facts:
    grants = (
        Grant(parse_rule(text), permission="bench", role="bench")
        for text in ("allow:unit.read:*", f"deny:unit.read:{pattern}")
    )
    return Facts(rules=RuleSet(grants))


def time_us(facts: Facts, name: str, repeat: int) -> tuple[float, float, bool]:
    """Median and 99th-percentile µs per decision over `repeat` decisions, and the answer."""
    bob = Principal("bob")
    unit = Resource("unit", name, name)
    allowed = decide(bob, "unit.read", unit, facts=facts, enforce=True).allowed  # warm the index
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        decide(bob, "unit.read", unit, facts=facts, enforce=True)
        samples.append((time.perf_counter() - start) * 1e6)
    return statistics.median(samples), statistics.quantiles(samples, n=100)[98], allowed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    print(f"one deny rule on the pattern; names of {LONGEST} bytes; µs per decision")
    print(f"{'pattern':<40} {'decision':>8} {'median':>8} {'p99':>8} {'ratio':>6}")
    base = None
    for label, pattern, name in ROWS:
        assert len(name.encode()) <= LONGEST
        median, p99, allowed = time_us(facts_for(pattern), name, args.repeat)
        base = base or median
        answer = "allowed" if allowed else "denied"
        print(f"{label:<40} {answer:>8} {median:>8.2f} {p99:>8.1f} {median / base:>5.1f}x")


if __name__ == "__main__":
    main()
