"""Decision time with 10 to 100,000 RBAC rules in the system, beside pycasbin, and with part
of the user's roles held through access groups.

    python bench/decisions.py [--sizes 10 1000 10000 100000] [--roles 20] [--groups 10]

teamgate compiles each user's effective rules once (the server caches them until RBAC data
changes), so a decision looks only at the rules that user holds. pycasbin gets the
equivalent RBAC policy (roles, `keyMatch` globs, deny-override) and enforces over all of it.
Both answer the same questions; the answers are compared before timing.

"with groups": the same user holds the same roles, but `--groups` of them come through the
roles of that many access groups they are a member of (Grant.group set, Facts.groups filled),
as `services.access_cache.load_facts` builds them. Its answers are compared too. A second
table times `load_facts` itself (what a cache miss costs) from a SQLite file holding the
same RBAC data, for a user with only roles of their own and for one with group roles.

"IdP caller": someone signed in through the identity provider (OIDC), who holds the same roles,
the group ones through access groups named by their IdP groups, with no membership rows
(`load_facts(conn, user, idp_groups)`): the same Facts, so the same decision time, and its own
column in the load_facts table. (What the HTTP path costs such a caller per request is in
bench/http_path.py: OIDC bearer beside cached Basic.)
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import casbin
from sqlalchemy import Connection, create_engine, insert

from teamgate.domain.identity import Principal
from teamgate.domain.policy import Facts, Grant, Resource, RuleSet, decide
from teamgate.domain.rules import parse_rule
from teamgate.services.access_cache import load_facts
from teamgate.storage.db import tables as t

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


def teamgate_rules(
    rules: list[tuple[str, str, str, str]],
    roles: list[str],
    via_group: dict[str, str] | None = None,
) -> RuleSet:
    """The user's rules; a role in `via_group` is held through that group (role → group)."""
    mine = set(roles)
    via_group = via_group or {}
    return RuleSet(
        Grant(
            parse_rule(f"{eff}:{act}:{pat}"),
            permission=f"p-{role}",
            role=role,
            group=via_group.get(role),
        )
        for role, pat, act, eff in rules
        if role in mine
    )


def group_facts(rules: list[tuple[str, str, str, str]], roles: list[str], groups: int) -> Facts:
    """The last `groups` of `roles` held through one access group each (g0, g1, …)."""
    through = {role: f"g{i}" for i, role in enumerate(roles[len(roles) - groups :])}
    return Facts(
        groups={i: f"g{i}" for i in range(groups)},
        rules=teamgate_rules(rules, roles, through),
    )


def load_database(
    conn: Connection, rules: list[tuple[str, str, str, str]], roles: list[str], groups: int
) -> None:
    """The RBAC tables for `rules`: bob holds `roles`; carol the same roles, the last `groups`
    of them through one access group each; erin as carol, through IdP groups."""
    now = "2026-01-01T00:00:00Z"
    role_ids = sorted({role for role, *_ in rules})
    conn.execute(insert(t.rbac_state).values(id=1, initialized=True, version=1))
    conn.execute(insert(t.rbac_role), [{"id": r, "name": r, "created_at": now} for r in role_ids])
    perms = [{"id": f"p-{r}", "name": r, "created_at": now} for r in role_ids]
    conn.execute(insert(t.rbac_permission), perms)
    links = [{"role_id": r, "permission_id": f"p-{r}"} for r in role_ids]
    conn.execute(insert(t.rbac_role_permission), links)
    conn.execute(
        insert(t.rbac_permission_rule),
        [
            {"permission_id": f"p-{role}", "position": i, "rule": f"{eff}:{act}:{pat}"}
            for i, (role, pat, act, eff) in enumerate(rules)
        ],
    )
    own = roles[: len(roles) - groups]
    user_roles = [{"user_name": "bob", "role_id": r, "created_at": now} for r in roles]
    user_roles += [{"user_name": "carol", "role_id": r, "created_at": now} for r in own]
    # erin: carol's own roles; the group ones through her IdP groups (no membership rows)
    user_roles += [{"user_name": "erin", "role_id": r, "created_at": now} for r in own]
    conn.execute(insert(t.rbac_user_role), user_roles)
    for i, role in enumerate(roles[len(roles) - groups :]):
        conn.execute(insert(t.access_group).values(id=i + 1, name=f"g{i}", created_at=now))
        conn.execute(
            insert(t.membership).values(
                user_name="carol", group_id=i + 1, role="member", created_at=now
            )
        )
        conn.execute(insert(t.rbac_group_role).values(group_id=i + 1, role_id=role, created_at=now))


def load_ms(
    conn: Connection,
    users: tuple[str, ...],
    repeat: int = 50,
    idp_groups: dict[str, frozenset[str]] | None = None,
) -> list[float]:
    """Each user's median load_facts time, the users taken in turn (so drift hits all alike);
    `idp_groups`: a user's IdP groups, for a caller signed in through the identity provider."""
    samples: dict[str, list[float]] = {user: [] for user in users}
    groups = idp_groups or {}
    for _ in range(repeat):
        for user in users:
            start = time.perf_counter()
            load_facts(conn, user, groups.get(user, frozenset()))
            samples[user].append((time.perf_counter() - start) * 1e3)
    return [statistics.median(samples[user]) for user in users]


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
    parser.add_argument("--groups", type=int, default=10, help="roles held through groups")
    args = parser.parse_args()
    if not 0 <= args.groups <= args.roles:
        parser.error("--groups must be between 0 and --roles")
    bob = Principal("bob")
    erin = Principal(
        "erin",
        method="oidc",
        idp="https://idp.example.com",
        idp_groups=frozenset(f"g{i}" for i in range(args.groups)),
    )
    print(
        f"user with {args.roles} roles ({args.groups} of them through as many access groups "
        "in 'with groups'); median µs per decision"
    )
    print(
        f"{'rules in system':>16} {'user rules':>10} {'teamgate':>10} {'with groups':>12} "
        f"{'IdP caller':>11} {'pycasbin':>10} {'ratio':>8}"
    )
    loads: list[tuple[int, float, float, float]] = []
    for size in args.sizes:
        rules, roles = build(size, args.roles)
        facts = Facts(rules=teamgate_rules(rules, roles))
        grouped = group_facts(rules, roles, args.groups)
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

        def with_groups(action: str, resource: str, facts: Facts = grouped) -> bool:
            return ours(action, resource, facts)

        def idp_caller(action: str, resource: str, facts: Facts = grouped) -> bool:
            found = Resource("unit", resource, resource)
            return decide(erin, action, found, facts=facts, enforce=True).allowed

        def theirs(action: str, resource: str, enforcer: casbin.Enforcer = enforcer) -> bool:
            return bool(enforcer.enforce("bob", resource, action))

        expected = [theirs(a, r) for a, r in queries]
        answers = [(ours(a, r), with_groups(a, r), idp_caller(a, r)) for a, r in queries]
        mismatches = sum(
            got != (want, want, want) for got, want in zip(answers, expected, strict=True)
        )
        assert mismatches == 0, f"{mismatches} answers differ"
        repeat = 5 if size < 100_000 else 1
        t_ours = median_us(ours, queries, repeat=25)
        t_groups = median_us(with_groups, queries, repeat=25)
        t_idp = median_us(idp_caller, queries, repeat=25)
        t_casbin = median_us(theirs, queries[: 20 if size >= 100_000 else 200], repeat=repeat)
        print(
            f"{size:>16} {len(facts.rules.grants):>10} {t_ours:>10.2f} {t_groups:>12.2f} "
            f"{t_idp:>11.2f} {t_casbin:>10.1f} {t_casbin / t_ours:>7.0f}x"
        )
        loads.append((size, *facts_load_ms(rules, roles, args.groups)))
    print()
    print("load_facts from a SQLite file (a cache miss); median ms")
    print(f"{'rules in system':>16} {'own roles':>10} {'with groups':>12} {'IdP groups':>11}")
    for size, own, grouped_ms, idp_ms in loads:
        print(f"{size:>16} {own:>10.2f} {grouped_ms:>12.2f} {idp_ms:>11.2f}")


def _key(grant: Grant) -> tuple[str, str, str]:
    return grant.rule.text, grant.role, grant.group or ""


def facts_load_ms(
    rules: list[tuple[str, str, str, str]], roles: list[str], groups: int
) -> tuple[float, float, float]:
    """(bob's, carol's, erin's) median load_facts time: the same rules, carol's partly via
    groups, erin's partly via IdP groups (no membership rows)."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/rbac.db")
        t.metadata.create_all(engine)
        with engine.begin() as conn:
            load_database(conn, rules, roles, groups)
        with engine.connect() as conn:
            expected = group_facts(rules, roles, groups).rules.grants
            loaded = load_facts(conn, "carol").rules.grants
            assert sorted(map(_key, loaded)) == sorted(map(_key, expected))
            assert len(load_facts(conn, "bob").rules.grants) == len(expected)
            idp = {"erin": frozenset(f"g{i}" for i in range(groups))}
            through_idp = load_facts(conn, "erin", idp["erin"])
            assert sorted(map(_key, through_idp.rules.grants)) == sorted(map(_key, expected))
            own_ms, grouped_ms, idp_ms = load_ms(conn, ("bob", "carol", "erin"), idp_groups=idp)
        engine.dispose()
    return own_ms, grouped_ms, idp_ms


if __name__ == "__main__":
    main()
