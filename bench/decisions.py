"""Decision time with 10 to 100,000 RBAC rules in the system, beside pycasbin.

    python bench/decisions.py [--sizes 10 1000 10000 100000] [--roles 20]

teamgate compiles each user's effective rules once (the server caches them until RBAC data
changes), so a decision looks only at the rules that user holds. pycasbin gets the
equivalent RBAC policy (roles, `keyMatch` globs, deny-override) and enforces over all of it.
Both answer the same questions; the answers are compared before timing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import casbin

from teamgate.domain.identity import Principal
from teamgate.domain.policy import Facts, Grant, Resource, RuleSet, decide
from teamgate.domain.rules import parse_rule

MODEL = """
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act, eft

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = g(r.sub, p.sub) && keyMatch(r.obj, p.obj) && (r.act == p.act || p.act == "*")
"""
ACTIONS = ["unit.read", "unit.write", "unit.lock", "unit.delete"]


def build(
    total_rules: int, roles_per_user: int
) -> tuple[list[tuple[str, str, str, str]], list[str]]:
    """(role, pattern, action, effect) rules spread over roles; the user's roles."""
    rng = random.Random(7)
    n_roles = max(roles_per_user, total_rules // 5)
    rules = []
    for i in range(total_rules):
        role = f"role{i % n_roles}"
        effect = "deny" if i % 50 == 49 else "allow"
        rules.append((role, f"team{i % 997}/app{i}/*", rng.choice(ACTIONS), effect))
    return rules, [f"role{i}" for i in range(roles_per_user)]


def teamgate_rules(rules: list[tuple[str, str, str, str]], roles: list[str]) -> RuleSet:
    mine = set(roles)
    return RuleSet(
        Grant(parse_rule(f"{eff}:{act}:{pat}"), permission=f"p-{role}", role=role)
        for role, pat, act, eff in rules
        if role in mine
    )


def casbin_enforcer(rules: list[tuple[str, str, str, str]], roles: list[str]) -> casbin.Enforcer:
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model.conf"
        model.write_text(MODEL)
        enforcer = casbin.Enforcer(str(model))
    for role, pat, act, eff in rules:
        enforcer.add_policy(role, pat, act, eff)
    for role in roles:
        enforcer.add_grouping_policy("bob", role)
    return enforcer


def median_us(fn: object, queries: list[tuple[str, str]], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for action, resource in queries:
            fn(action, resource)  # type: ignore[operator]
        samples.append((time.perf_counter() - start) / len(queries) * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 1000, 10_000, 100_000])
    parser.add_argument("--roles", type=int, default=20)
    args = parser.parse_args()
    bob = Principal("bob")
    print(f"user with {args.roles} roles; median µs per decision")
    print(
        f"{'rules in system':>16} {'user rules':>10} {'teamgate':>10} {'pycasbin':>10} {'ratio':>8}"
    )
    for size in args.sizes:
        rules, roles = build(size, args.roles)
        facts = Facts(rules=teamgate_rules(rules, roles))
        enforcer = casbin_enforcer(rules, roles)
        rng = random.Random(size)
        queries = [
            (rng.choice(ACTIONS), f"team{rng.randrange(997)}/app{rng.randrange(size)}/x")
            for _ in range(200)
        ]

        def ours(action: str, resource: str, facts: Facts = facts) -> bool:
            return decide(
                bob, action, Resource("unit", resource, resource), facts=facts, enforce=True
            ).allowed

        def theirs(action: str, resource: str, enforcer: casbin.Enforcer = enforcer) -> bool:
            return bool(enforcer.enforce("bob", resource, action))

        mismatches = sum(ours(a, r) != theirs(a, r) for a, r in queries)
        assert mismatches == 0, f"{mismatches} answers differ"
        repeat = 5 if size < 100_000 else 1
        t_ours = median_us(ours, queries, repeat=25)
        t_casbin = median_us(theirs, queries[: 20 if size >= 100_000 else 200], repeat=repeat)
        print(
            f"{size:>16} {len(facts.rules.grants):>10} {t_ours:>10.2f} {t_casbin:>10.1f} "
            f"{t_casbin / t_ours:>7.0f}x"
        )


if __name__ == "__main__":
    main()
