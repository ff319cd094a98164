"""Listing workflows and units (SQLite and PostgreSQL): the SQL filter equals `decide()` item by
item on random data (owners, shares, RBAC allow/deny patterns with LIKE metacharacters), and
cursor pages return every visible item exactly once, in order, also while rows are inserted.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import Connection, text

from teamgate.domain.identity import Principal
from teamgate.domain.levels import LEVELS
from teamgate.domain.policy import Facts, Grant, Resource, RuleSet, decide
from teamgate.domain.rules import Effect, parse_rule
from teamgate.errors import Invalid
from teamgate.services.workflows import workflow_resource
from teamgate.storage.db import groups, listing, units, workflows
from teamgate.storage.db.engine import Database
from teamgate.storage.db.listing import Visibility, encode_cursor
from teamgate.storage.db.units import Unit
from teamgate.storage.db.workflow_queries import Order
from teamgate.storage.db.workflows import Workflow, WorkflowFilter

WF_READ, UNIT_READ = "workflow.read", "unit.read"
USERS = ["ann", "an", "bob", "c%d", "d_e", "e\\f", "ann/x", "o'x"]
NAMES = ["a", "ab", "a%", "a_b", "x\\y", "p*q", "n/m", "b", "%", "_"]
SEGMENTS = ["it's", "dev", "de%v", "d_v", "x\\y", "a*b", "prod", "dev-x", "d", "%", "_"]
# pieces of RBAC patterns: each may be literal text, a LIKE metacharacter, or `*`
PIECES = ["*", "*", "ann", "an", "/", "bob/", "c%d", "d_e", "e\\f", "%", "_", "\\", "a", "dev"]
PIECES += ["dev/", "de%v", "d_v/", "x\\y", "prod/*", "a*b", "n/m", "/a", "p"]


def random_pattern(rng: random.Random, names: list[str]) -> str:
    """A pattern near one of `names` (so that it often matches some), or made of pieces."""
    name = rng.choice(names)
    cut = rng.randint(0, len(name))
    shapes = [
        lambda: name[:cut] + "*",
        lambda: "*" + name[cut:],
        lambda: name[:cut] + "*" + name[cut + 1 :],
        lambda: name[:cut] + rng.choice("%_\\") + name[cut + 1 :],  # literal, not a wildcard
        lambda: name,
        lambda: "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 3))),
    ]
    return rng.choice(shapes)()


def rule_set(allow: list[str], deny: list[str], action: str, rng: random.Random) -> RuleSet:
    """Rules as a user holds them; some through the `*` action."""
    texts = [f"allow:{rng.choice([action, '*'])}:{p}" for p in allow]
    texts += [f"deny:{rng.choice([action, '*'])}:{p}" for p in deny]
    return RuleSet(Grant(parse_rule(t), permission="p", role="r") for t in texts)


@dataclass
class World:
    """Random users with groups and rules, and what each may read according to decide()."""

    rng: random.Random
    memberships: dict[str, dict[int, str]] = field(default_factory=dict)
    rules: dict[str, RuleSet] = field(default_factory=dict)

    def facts(self, user: str) -> Facts:
        return Facts(groups=self.memberships.get(user, {}), rules=self.rules[user])

    def visibility(self, user: str, action: str) -> Visibility:
        rules = self.rules[user]
        allow, deny = rules.patterns(Effect.ALLOW, action), rules.patterns(Effect.DENY, action)
        return Visibility(user, tuple(allow), tuple(deny))

    def allowed(self, user: str, action: str, resource: Resource) -> bool:
        facts = self.facts(user)
        return decide(Principal(user), action, resource, facts=facts, enforce=True).allowed


def make_world(conn: Connection, seed: int) -> World:
    """Users in random groups (rules come once the names exist: `give_rules`)."""
    rng = random.Random(seed)
    world = World(rng)
    ids = [groups.create_group(conn, name=f"g{i}", description=None).id for i in range(4)]
    for user in USERS:
        mine = rng.sample(ids, rng.randint(0, 2))
        for group_id in mine:
            groups.add_member(conn, group_id, user=user, role="member")
        world.memberships[user] = {g: f"g{ids.index(g)}" for g in mine}
    return world


def give_rules(world: World, action: str, names: list[str]) -> None:
    rng = world.rng
    for user in USERS:
        allow = [random_pattern(rng, names) for _ in range(rng.randint(0, 4))]
        deny = [random_pattern(rng, names) for _ in range(rng.randint(0, 2))]
        world.rules[user] = rule_set(allow, deny, action, rng)


def random_shares(rng: random.Random, group_ids: list[int]) -> dict[int, str]:
    """Up to two of `group_ids`, each with a random share level (any level may read)."""
    chosen = rng.sample(group_ids, rng.randint(0, min(2, len(group_ids))))
    return {g: rng.choice(LEVELS) for g in chosen}


def add_workflows(conn: Connection, world: World, count: int) -> dict[int, dict[int, str]]:
    """Random workflows and their shares: workflow id → group id → level."""
    rng, group_ids = world.rng, sorted({g for m in world.memberships.values() for g in m})
    shares: dict[int, dict[int, str]] = {}
    for _ in range(count):
        description = rng.choice([None, "x", "a%", "b"])
        created = workflows.insert_workflow(
            conn, name=rng.choice(NAMES), user=rng.choice(USERS), description=description
        )
        chosen = random_shares(rng, group_ids)
        for group_id, level in chosen.items():
            groups.share_workflow(conn, created.id, group_id, access=level)
        shares[created.id] = chosen
    return shares


def random_path(rng: random.Random) -> str:
    return "/".join(rng.choice(SEGMENTS) for _ in range(rng.randint(1, 3)))


def add_units(conn: Connection, world: World, count: int) -> dict[str, dict[int, str]]:
    """Random units and their shares: path → group id → level."""
    rng, group_ids = world.rng, sorted({g for m in world.memberships.values() for g in m})
    shares: dict[str, dict[int, str]] = {}
    while len(shares) < count:
        path = random_path(rng)
        if path in shares:
            continue
        created = units.insert_unit(conn, path, owner=rng.choice(USERS))
        chosen = random_shares(rng, group_ids)
        for group_id, level in chosen.items():
            units.add_share(
                conn, created.id, group_id, path=path, group=str(group_id), access=level
            )
        shares[path] = chosen
    return shares


def workflow_pages(
    conn: Connection, visible: Visibility | None, filters: WorkflowFilter, limit: int
) -> Iterator[workflows.WorkflowPage]:
    """Every page of a workflow list, following next_cursor."""
    after = None
    while True:
        page = workflows.list_workflows(
            conn, visible=visible, filters=filters, offset=0, limit=limit, after=after
        )
        yield page
        if page.next_cursor is None:
            return
        after = page.next_cursor


def unit_pages(
    conn: Connection, visible: Visibility | None, prefix: str | None, limit: int
) -> Iterator[units.UnitPage]:
    after = None
    while True:
        page = units.list_units(conn, visible=visible, prefix=prefix, limit=limit, after=after)
        yield page
        if page.next_cursor is None:
            return
        after = page.next_cursor


SORTS: dict[str | None, Callable[[Workflow], Any]] = {
    None: lambda w: w.id,
    "name": lambda w: w.name,
    "user": lambda w: w.user,
    "description": lambda w: w.description or "",
}


def in_order(items: list[Workflow], sort_by: str | None, reverse: bool) -> list[int]:
    """Ids in the list's order: the key (descending with reverse_sort), then id ascending."""
    by_id = sorted(items, key=lambda w: w.id, reverse=reverse and sort_by is None)
    if sort_by is None:
        return [w.id for w in by_id]
    return [w.id for w in sorted(by_id, key=SORTS[sort_by], reverse=reverse)]


# -- the SQL filter equals decide() --------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_workflow_list_equals_decide_for_every_item(database: Database, seed: int) -> None:
    with database.write() as conn:
        world = make_world(conn, seed)
        shares = add_workflows(conn, world, 60)
    with database.read() as conn:
        everything = workflows.list_workflows(
            conn, visible=None, filters=WorkflowFilter(), offset=0, limit=1000
        ).items
        give_rules(world, WF_READ, [f"{w.user}/{w.name}" for w in everything])
        for user in USERS:
            expected = [
                w.id
                for w in everything
                if world.allowed(user, WF_READ, workflow_resource(w, shares[w.id]))
            ]
            visible = world.visibility(user, WF_READ)
            limit = world.rng.randint(1, 7)
            pages = list(workflow_pages(conn, visible, WorkflowFilter(), limit))
            listed = [w.id for page in pages for w in page.items]
            assert listed == expected, (user, visible)
            assert {page.total_count for page in pages} == {len(expected)}
            assert all(len(page.items) == limit for page in pages[:-1])


@pytest.mark.parametrize("seed", range(4))
def test_unit_list_equals_decide_for_every_item(database: Database, seed: int) -> None:
    with database.write() as conn:
        world = make_world(conn, seed)
        shares = add_units(conn, world, 50)
        give_rules(world, UNIT_READ, list(shares))
    with database.read() as conn:
        everything = {
            u.path: u for u in units.list_units(conn, visible=None, prefix=None, limit=1000).items
        }
        assert list(everything) == sorted(shares)
        for user in USERS:
            prefix = world.rng.choice([None, None, "dev", "de%v", "d_v", "x\\y", "dev/d"])
            expected = [
                path
                for path, unit in everything.items()
                if (prefix is None or path == prefix or path.startswith(prefix + "/"))
                and world.allowed(user, UNIT_READ, _unit_resource(unit, shares[path]))
            ]
            visible = world.visibility(user, UNIT_READ)
            limit = world.rng.randint(1, 7)
            pages = list(unit_pages(conn, visible, prefix, limit))
            assert [u.path for page in pages for u in page.items] == expected, (user, visible)
            assert all(len(page.items) == limit for page in pages[:-1])


def _unit_resource(found: Unit, shares: dict[int, str]) -> Resource:
    return Resource("unit", found.path, found.path, owner=found.owner, shared_with=shares)


def test_many_patterns_take_the_single_scan_form_and_still_agree(database: Database) -> None:
    """More allow patterns than `MAX_BRANCHES`: one ordered scan with an OR, same answer."""
    many = (*(f"ann/w{i}*" for i in range(listing.MAX_BRANCHES)), "bob/*")
    visible = Visibility("carol", many, ("ann/w1*",))
    with database.write() as conn:
        for i in range(30):
            workflows.insert_workflow(conn, name=f"w{i}", user="ann", description=None)
            workflows.insert_workflow(conn, name=f"w{i}", user="bob", description=None)
            units.insert_unit(conn, f"ann/w{i}", owner="ann")
    with database.read() as conn:
        names = [
            f"{w.user}/{w.name}"
            for page in workflow_pages(conn, visible, WorkflowFilter(), 7)
            for w in page.items
        ]
        paths = [u.path for page in unit_pages(conn, visible, None, 7) for u in page.items]
    expect = [f"ann/w{i}" for i in range(30) if not f"w{i}".startswith("w1")]
    assert sorted(names) == sorted(expect + [f"bob/w{i}" for i in range(30)])
    assert paths == sorted(expect)


# -- cursors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort_by", "reverse"),
    [(None, False), (None, True), ("name", False), ("name", True), ("description", False),
     ("user", True)],
)  # fmt: skip
def test_cursor_pages_follow_every_sort_order(
    database: Database, sort_by: str | None, reverse: bool
) -> None:
    with database.write() as conn:
        world = make_world(conn, 7)
        add_workflows(conn, world, 40)
        give_rules(world, WF_READ, ["ann/a", "bob/ab", "c%d/n/m"])
    filters = WorkflowFilter(sort_by=sort_by, reverse_sort=reverse)
    with database.read() as conn:
        everything = workflows.list_workflows(
            conn, visible=None, filters=WorkflowFilter(), offset=0, limit=1000
        ).items
        for visible in (None, world.visibility("ann", WF_READ), Visibility("ann", ("*",))):
            expected = workflows.list_workflows(
                conn, visible=visible, filters=filters, offset=0, limit=1000
            ).items
            ids = {w.id for w in expected}
            assert [w.id for w in expected] == in_order(
                [w for w in everything if w.id in ids], sort_by, reverse
            )
            pages = list(workflow_pages(conn, visible, filters, 3))
            assert [w.id for p in pages for w in p.items] == [w.id for w in expected]
            by_offset = [
                workflows.list_workflows(
                    conn, visible=visible, filters=filters, offset=offset, limit=3
                )
                for offset in range(0, len(expected) + 3, 3)
            ]
            assert [w.id for p in by_offset for w in p.items] == [w.id for w in expected]
            assert [p.has_more for p in by_offset] == [
                3 * (i + 1) < len(expected) for i in range(len(by_offset))
            ]


def test_inserts_between_pages_cause_no_duplicates(database: Database) -> None:
    """Rows added while a client pages (before and after its position) never show twice,
    and every row that was there at the start shows once."""
    with database.write() as conn:
        for i in range(20):
            workflows.insert_workflow(conn, name=f"m{i:02d}", user="ann", description=None)
            units.insert_unit(conn, f"ann/m{i:02d}", owner="ann")
    visible = Visibility("ann")
    by_name = WorkflowFilter(sort_by="name")
    with database.read() as conn:
        before = workflows.list_workflows(
            conn, visible=visible, filters=by_name, offset=0, limit=100
        )
    seen_workflows: list[int] = []
    seen_units: list[str] = []
    after_w: str | None = None
    after_u: str | None = None
    for step in range(100):
        with database.read() as conn:
            page = workflows.list_workflows(
                conn, visible=visible, filters=by_name, offset=0, limit=3, after=after_w
            )
            unit_page = units.list_units(
                conn, visible=visible, prefix="ann", limit=3, after=after_u
            )
        seen_workflows += [w.id for w in page.items]
        seen_units += [u.path for u in unit_page.items]
        with database.write() as conn:  # one row sorting before the cursor, one after
            for name in (f"a{step:03d}", f"z{step:03d}"):
                workflows.insert_workflow(conn, name=name, user="ann", description=None)
                units.insert_unit(conn, f"ann/{name}", owner="ann")
        after_w, after_u = page.next_cursor, unit_page.next_cursor
        if after_w is None and after_u is None:
            break
    assert len(seen_workflows) == len(set(seen_workflows))
    assert len(seen_units) == len(set(seen_units))
    assert {w.id for w in before.items} <= set(seen_workflows)
    assert {f"ann/m{i:02d}" for i in range(20)} <= set(seen_units)


def test_a_cursor_is_tied_to_its_list(database: Database) -> None:
    with database.write() as conn:
        for i in range(5):
            workflows.insert_workflow(conn, name=f"w{i}", user="ann", description=None)
            units.insert_unit(conn, f"u/{i}", owner="ann")
    with database.read() as conn:
        page = workflows.list_workflows(
            conn, visible=None, filters=WorkflowFilter(), offset=0, limit=2
        )
        unit_page = units.list_units(conn, visible=None, prefix=None, limit=2)
        assert page.next_cursor and unit_page.next_cursor
        by_name = WorkflowFilter(sort_by="name")
        for filters, cursor in (
            (by_name, page.next_cursor),
            (WorkflowFilter(reverse_sort=True), page.next_cursor),
            (WorkflowFilter(), "not-a-cursor"),
            (WorkflowFilter(), unit_page.next_cursor),
        ):
            with pytest.raises(Invalid, match="cursor"):
                workflows.list_workflows(
                    conn, visible=None, filters=filters, offset=0, limit=2, after=cursor
                )
        with pytest.raises(Invalid, match="cursor"):
            units.list_units(conn, visible=None, prefix=None, limit=2, after=page.next_cursor)


# -- query plans -----------------------------------------------------------------------------


def test_sqlite_plans_seek_indexes_and_merge_lazily(database: Database) -> None:
    """No branch scans a whole table; the union is a lazy merge (MERGE (UNION))."""
    if database.dialect != "sqlite":
        pytest.skip("PostgreSQL plans depend on table statistics; see bench/listing.py")
    visible = Visibility("ann", ("bob/*", "team1/*", "team2/app*"), ("team1/secret*",))
    queries = [
        query
        for after in (None, Order("id", reverse=False).cursor(None, 5))
        for _label, query in workflows.listing_queries(
            "sqlite", visible=visible, filters=WorkflowFilter(), offset=0, limit=10, after=after
        )
    ]
    for prefix, after in ((None, None), ("team1", None), (None, encode_cursor({"p": "team1/x"}))):
        unit_query = units.listing_query(
            "sqlite", visible=visible, prefix=prefix, limit=10, after=after
        )
        assert unit_query is not None
        queries.append(unit_query)
    with database.read() as conn:
        for query in queries:
            sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
            plan = [row[-1] for row in conn.execute(text("EXPLAIN QUERY PLAN " + sql))]
            assert not [line for line in plan if line.startswith(("SCAN workflow", "SCAN unit"))]
        assert "MERGE (UNION)" in plan
