"""The SQL of `unit ls`: a union of index-served sets of unit paths, each cut to its top rows.

The sets: the caller's own units (`unit (owner, path)`), those shared with their groups
(membership, then `unit_access_group (group_id, unit_id)`), and one range of the path index
per RBAC allow pattern (`[head, upper(head))`, then the exact LIKE). A prefix narrows every
range; deny patterns filter on the path, which each index holds.

Building this statement costs far more than running it, so it is built once per (visibility,
prefix, first page or not) and cached; the only value that changes from page to page is bound:
`floor`, just past the cursor's path (page sizes are written in, see `listing.page_bound`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    and_,
    bindparam,
    func,
    not_,
    or_,
    select,
    true,
)

from teamgate.domain.rules import literal_prefix
from teamgate.domain.units import like_escape, pattern_to_like
from teamgate.storage.db.listing import (
    MAX_BRANCHES,
    TextRange,
    Visibility,
    const,
    first_rows,
    group_ids,
    may_share_prefix,
    page_bound,
    upper_bound,
)
from teamgate.storage.db.tables import membership, unit, unit_share

# The smallest path above `p` is `p + "\x01"`: stored paths hold no control characters
# (domain.units.normalize_path), and PostgreSQL text cannot hold NUL.
JUST_AFTER = "\x01"


@dataclass(frozen=True, slots=True)
class Branch:
    """One set of the union: rows of `source` meeting `conditions`, with paths in `paths`;
    each member's path starts with `prefix`; `distinct` when a unit may appear twice."""

    source: FromClause
    conditions: tuple[ColumnElement[bool], ...]
    paths: TextRange = field(default_factory=TextRange)
    prefix: str = ""
    distinct: bool = False


def _matching(pattern: str) -> tuple[ColumnElement[bool], ...]:
    """Conditions for a path matching an RBAC pattern (none for `*`)."""
    if pattern == "*":
        return ()
    if "*" not in pattern:
        return (unit.c.path == const(pattern),)
    return (unit.c.path.like(const(pattern_to_like(pattern)), escape="\\"),)


def pattern_branch(pattern: str) -> Branch:
    """The units an RBAC pattern matches: a range of the path index, then the exact match
    (none for `head*`, which the range matches exactly)."""
    head = literal_prefix(pattern)
    exact = () if pattern == head + "*" else _matching(pattern)
    return Branch(unit, exact, TextRange.starting_with(head), head)


def grant_branches(visible: Visibility | None) -> list[Branch]:
    """The sets whose union is what `visible` allows (one set: every unit)."""
    if visible is None or visible.allows_everything:
        return [Branch(unit, ())]
    user = visible.user
    owned = Branch(unit, (unit.c.owner == const(user),))
    shared = Branch(
        membership.join(unit_share, unit_share.c.group_id == membership.c.group_id).join(
            unit, unit.c.id == unit_share.c.unit_id
        ),
        (membership.c.user_name == const(user),),
        distinct=True,
    )
    # shared with the access groups of the caller's IdP groups: no membership rows, by id
    through_idp = (
        [
            Branch(
                unit_share.join(unit, unit.c.id == unit_share.c.unit_id),
                (unit_share.c.group_id.in_(group_ids(visible.groups)),),
                distinct=True,
            )
        ]
        if visible.groups
        else []
    )
    allow = visible.live_allow()
    if len(allow) + 2 + len(through_idp) <= MAX_BRANCHES:
        return [owned, shared, *through_idp, *(pattern_branch(p) for p in allow)]
    shared_ids = select(unit_share.c.unit_id).join(
        membership, membership.c.group_id == unit_share.c.group_id
    )
    grants = [owned.conditions[0], unit.c.id.in_(shared_ids.where(membership.c.user_name == user))]
    if visible.groups:
        by_id = select(unit_share.c.unit_id).where(
            unit_share.c.group_id.in_(group_ids(visible.groups))
        )
        grants.append(unit.c.id.in_(by_id))
    grants.extend(and_(true(), *_matching(p)) for p in allow)
    return [Branch(unit, (or_(*grants),))]


def prefix_range(prefix: str | None) -> TextRange:
    """The paths under `prefix` by whole segments: itself and `prefix/…` (and, in between,
    a few such as `prefix-x` that the exact condition drops)."""
    return TextRange(prefix, upper_bound(prefix + "/")) if prefix else TextRange()


def _filters(visible: Visibility | None, prefix: str | None, branch: Branch) -> list[Any]:
    """The prefix (whole segments) and the deny patterns that may match the branch's paths."""
    found: list[ColumnElement[bool]] = []
    if prefix:
        under = unit.c.path.like(const(like_escape(prefix) + "/%"), escape="\\")
        found.append(or_(unit.c.path == const(prefix), under))
    for pattern in visible.deny if visible is not None else ():
        if may_share_prefix(literal_prefix(pattern), branch.prefix):
            found.append(not_(and_(true(), *_matching(pattern))))
    return found


def page_parameters(*, count: int, after: str | None) -> dict[str, Any]:
    """Bound values of a `unit_query` statement for `count` rows after the path `after`."""
    floor = {} if after is None else {"floor": after + JUST_AFTER}
    return {"offset": 0, "count": count, "depth": count, **floor}


def _lower_bound(dialect: str, low: str, after: bool) -> list[ColumnElement[bool]]:
    """One lower bound for a set's paths: its own, or past the cursor (`floor`) if higher.
    One, because given two SQLite seeks with one and filters with the other, and a deep cursor
    would then scan from the start of the set."""
    if not after:
        return [unit.c.path >= const(low)] if low else []
    floor: ColumnElement[str] = bindparam("floor", type_=unit.c.path.type)
    if not low:
        return [unit.c.path >= floor]
    if dialect == "sqlite":
        return [unit.c.path >= func.max(const(low), floor)]
    # GREATEST compares in the database's collation unless told to compare byte-wise
    return [unit.c.path >= func.greatest(const(low).collate("C"), floor.collate("C"))]


@lru_cache(maxsize=64)  # about 300 KiB each with its compiled form
def unit_query(
    visible: Visibility | None, prefix: str | None, dialect: str, after: bool
) -> Select[Any] | None:
    """The statement of a unit list (first page, or `after` a cursor: bound as `floor`); None
    when no set can hold anything under `prefix`."""
    parts: list[tuple[Branch, list[Any]]] = []
    for branch in grant_branches(visible):
        paths = branch.paths.within(prefix_range(prefix))
        if paths.empty:
            continue
        bounds = [
            *_lower_bound(dialect, paths.low, after),
            *TextRange("", paths.high).conditions(unit.c.path),
        ]
        parts.append((branch, [*branch.conditions, *bounds, *_filters(visible, prefix, branch)]))
    return _statement(parts, dialect) if parts else None


def _statement(parts: list[tuple[Branch, list[Any]]], dialect: str) -> Select[Any]:
    """The first `count` units of the union of the sets, in path order."""
    if len(parts) == 1 and parts[0][0].source is unit:
        count = page_bound("count")
        return select(unit).where(*parts[0][1]).order_by(unit.c.path).limit(count)
    tops = []
    for branch, conditions in parts:
        query = select(unit.c.path, unit.c.id).select_from(branch.source).where(*conditions)
        tops.append((query, branch.distinct))
    page = first_rows(dialect, tops, [("path", False)])
    return select(unit).join(page, page.c.id == unit.c.id).order_by(unit.c.path)
