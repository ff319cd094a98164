"""The SQL of the workflow list: a union of index-served sets, each cut to its top rows.

The sets: the caller's own workflows (`workflow (user, id)`), those shared with their groups
(`user_group_membership (user_name, group_id)` then `workflow_access_group (group_id,
workflow_id)`, ids only), and for each RBAC allow pattern on `owner/name` the owners it can
name (`workflow (user, id)` again). Deny patterns become `id NOT IN (<what they match>)`,
found through the same index, and only in the sets whose names they can match, so that no
set reads workflow rows just to test a deny. Workflow rows are read for the final page only
(unless a filter or the sort order needs them).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)

from teamgate.domain.rules import literal_prefix
from teamgate.domain.units import pattern_to_like
from teamgate.errors import invalid_cursor
from teamgate.storage.db.listing import (
    MAX_BRANCHES,
    ROW_IDS,
    TextRange,
    Visibility,
    const,
    decode_cursor,
    encode_cursor,
    first_rows,
    group_ids,
    may_share_prefix,
    page_bound,
    union_of,
)
from teamgate.storage.db.tables import membership, workflow, workflow_share

if TYPE_CHECKING:
    from teamgate.storage.db.workflows import WorkflowFilter


@dataclass(frozen=True, slots=True)
class Order:
    """The list's order (a sort key, then id) and its cursors."""

    key_name: str
    reverse: bool

    @property
    def by_id(self) -> bool:
        return self.key_name == "id"

    def key(self) -> ColumnElement[Any]:
        if self.key_name == "description":  # NULL sorts alike on SQLite and PostgreSQL
            return func.coalesce(workflow.c.description, "")
        return workflow.c[self.key_name]

    def terms(self, key: ColumnElement[Any], id_: ColumnElement[Any]) -> list[Any]:
        first = key.desc() if self.reverse else key.asc()
        return [first] if self.by_id else [first, id_.asc()]

    def parameters(self, cursor: str | None) -> dict[str, Any]:
        """The bound values `after_key` and `after_id` of the row a cursor names; Invalid if
        the cursor is not one of this order's."""
        if cursor is None:
            return {}
        fields = decode_cursor(cursor, {"s": str, "r": bool, "i": ROW_IDS}, {"k": str})
        if (fields["s"], fields["r"], "k" not in fields) != (
            self.key_name,
            self.reverse,
            self.by_id,
        ):
            raise invalid_cursor(
                "it belongs to another sort order (pass the same sort_by and reverse_sort "
                "as the request that returned it)"
            )
        return {"after_id": fields["i"], "after_key": fields.get("k")}

    def beyond(self, key: ColumnElement[Any], id_: ColumnElement[Any]) -> ColumnElement[bool]:
        """Rows after the one bound as `after_key`, `after_id`, in this order."""
        last_id = bindparam("after_id", type_=Integer)
        if self.by_id:
            return id_ < last_id if self.reverse else id_ > last_id
        value = bindparam("after_key", type_=String)
        past = key < value if self.reverse else key > value
        return or_(past, (key == value) & (id_ > last_id))

    def cursor(self, value: Any, last_id: int) -> str:
        fields: dict[str, Any] = {"s": self.key_name, "r": self.reverse, "i": last_id}
        if not self.by_id:
            fields["k"] = value or ""
        return encode_cursor(fields)


@dataclass(frozen=True, slots=True)
class Branch:
    """One set of the union: `ids` (workflow ids) of `source` rows meeting `conditions`.

    `prefix` is a text every member's `owner/name` starts with ("" if unknown); `has_row`
    says whether `source` includes the workflow row; `distinct` whether ids may repeat.
    """

    source: FromClause
    ids: ColumnElement[int]
    conditions: tuple[ColumnElement[bool], ...]
    prefix: str = ""
    has_row: bool = True
    distinct: bool = False
    seek_after: bool = True  # whether the cursor's `id >` may drive the index seek


def resource_name() -> ColumnElement[str]:
    """A workflow's RBAC resource name, `owner/name` (as services.workflows names it)."""
    return workflow.c.user.concat(literal("/")).concat(workflow.c.name)


def _matching(column: ColumnElement[str], pattern: str) -> tuple[ColumnElement[bool], ...]:
    """Conditions for `column` matching an RBAC pattern (none for `*`)."""
    if pattern == "*":
        return ()
    if "*" not in pattern:
        return (column == const(pattern),)
    return (column.like(const(pattern_to_like(pattern)), escape="\\"),)


def pattern_branches(pattern: str) -> list[Branch]:
    """Disjoint, index-friendly sets of workflows whose `owner/name` matches `pattern`.

    They differ in where the owner's name ends: at a `/` of the pattern's literal head (the
    owner is then the text before it: a seek on (user, id)), or past the head (the owner then
    starts with it: a range of (user, id)). A pattern with no literal head scans the table.
    """
    head = literal_prefix(pattern)
    if not head:
        return [Branch(workflow, workflow.c.id, _matching(resource_name(), pattern))]
    cases = [
        Branch(
            workflow,
            workflow.c.id,
            (workflow.c.user == const(head[:k]), *_matching(workflow.c.name, pattern[k + 1 :])),
            head,
        )
        for k, char in enumerate(head)
        if char == "/"
    ]
    if "*" in pattern:
        owner = TextRange.starting_with(head).conditions(workflow.c.user)
        matched = (*owner, *_matching(resource_name(), pattern))
        cases.append(Branch(workflow, workflow.c.id, matched, head, seek_after=False))
    return cases


def _grant_branches(visible: Visibility | None) -> list[Branch]:
    """The sets whose union is what `visible` allows (one set: the whole table)."""
    if visible is None or visible.allows_everything:
        return [Branch(workflow, workflow.c.id, ())]
    user = visible.user
    owned = Branch(workflow, workflow.c.id, (workflow.c.user == const(user),), f"{user}/")
    shared = Branch(
        membership.join(workflow_share, workflow_share.c.group_id == membership.c.group_id),
        workflow_share.c.workflow_id,
        (membership.c.user_name == const(user),),
        has_row=False,
        distinct=True,
    )
    # shared with the access groups of the caller's IdP groups: no membership rows, by id
    through_idp = (
        [
            Branch(
                workflow_share,
                workflow_share.c.workflow_id,
                (workflow_share.c.group_id.in_(group_ids(visible.groups)),),
                has_row=False,
                distinct=True,
            )
        ]
        if visible.groups
        else []
    )
    cases = _merged(
        [case for pattern in visible.live_allow() for case in pattern_branches(pattern)]
    )
    if len(cases) + 2 + len(through_idp) <= MAX_BRANCHES:
        return [owned, shared, *through_idp, *cases]
    ids = select(shared.ids).select_from(shared.source).where(*shared.conditions)
    grants = [owned.conditions[0], workflow.c.id.in_(ids)]
    for branch in through_idp:
        found = select(branch.ids).select_from(branch.source).where(*branch.conditions)
        grants.append(workflow.c.id.in_(found))
    grants.extend(_all(case.conditions) for case in cases)
    return [Branch(workflow, workflow.c.id, (or_(*grants),))]


def _merged(cases: list[Branch]) -> list[Branch]:
    """The cases, with those of patterns that have no literal head (each a scan of the table
    in id order) merged into one scan. (Ranges of owners stay apart: merged, SQLite would walk
    the primary key in id order rather than sort the few rows of the ranges.)"""
    scans = [case for case in cases if not case.prefix]
    if len(scans) < 2:
        return cases
    either = or_(*(_all(case.conditions) for case in scans))
    return [*(case for case in cases if case.prefix), Branch(workflow, workflow.c.id, (either,))]


def _all(conditions: tuple[ColumnElement[bool], ...]) -> ColumnElement[bool]:
    """All of `conditions` as one expression (true when there are none)."""
    return and_(true(), *conditions)


@dataclass(frozen=True, slots=True)
class WorkflowQuery:
    """The page and count queries of one list request."""

    visible: Visibility | None
    filters: WorkflowFilter
    order: Order

    def _row_filters(self) -> list[ColumnElement[bool]]:
        """Conditions that need the workflow row: the request's filters, and deny patterns
        with no literal head (no index can find what they match)."""
        found: list[ColumnElement[bool]] = []
        if self.filters.name is not None:
            found.append(workflow.c.name == self.filters.name)
        if self.filters.user is not None:
            found.append(workflow.c.user == self.filters.user)
        if self.filters.description is not None:
            found.append(workflow.c.description.contains(self.filters.description, autoescape=True))
        for pattern in self.visible.deny if self.visible is not None else ():
            if not literal_prefix(pattern):
                found.append(not_(_all(_matching(resource_name(), pattern))))
        return found

    def _denied(self, branch: Branch) -> list[ColumnElement[bool]]:
        """`id NOT IN (…)` for the deny patterns with a literal head that can match members of
        `branch`; found through the same indexes as the allow patterns."""
        heads = [p for p in self.visible.deny if literal_prefix(p)] if self.visible else []
        live = [p for p in heads if may_share_prefix(literal_prefix(p), branch.prefix)]
        cases = [case for pattern in live for case in pattern_branches(pattern)]
        if not cases:
            return []
        denied = union_of([select(workflow.c.id).where(*case.conditions) for case in cases])
        return [branch.ids.not_in(denied)]

    def _parts(
        self, branch: Branch, after: bool, *, keyed: bool = True
    ) -> tuple[FromClause, list[ColumnElement[bool]], ColumnElement[Any]]:
        """The branch's source (joined to the workflow row when needed), conditions, sort key."""
        row_filters = self._row_filters()
        source = branch.source
        if not branch.has_row and (row_filters or (keyed and not self.order.by_id)):
            source = source.join(workflow, workflow.c.id == branch.ids)
        key = branch.ids if self.order.by_id else self.order.key()
        conditions = [*branch.conditions, *row_filters, *self._denied(branch)]
        if after:
            # In a range of owners, `id > :after_id` cannot narrow the (user, id) index; left
            # bare, it tempts SQLite to walk the primary key from there to the end instead.
            ids = branch.ids if branch.seek_after else branch.ids + 0
            conditions.append(self.order.beyond(key, ids))
        return source, conditions, key

    def page(self, dialect: str, after: bool) -> Select[Any]:
        """`count` rows from `offset` (after the cursor, if `after`) of the union of the sets;
        see `listing.first_rows` for how each dialect reads only about that many."""
        branches = _grant_branches(self.visible)
        if len(branches) == 1 and branches[0].has_row:
            offset, count = page_bound("offset"), page_bound("count")
            source, conditions, key = self._parts(branches[0], after)
            query = select(workflow).select_from(source).where(*conditions)
            return query.order_by(*self.order.terms(key, workflow.c.id)).offset(offset).limit(count)
        tops = []
        for branch in branches:
            source, conditions, key = self._parts(branch, after)
            query = select(key.label("k"), branch.ids.label("id")).select_from(source)
            tops.append((query.where(*conditions), branch.distinct))
        keys = [("k", self.order.reverse)] + ([] if self.order.by_id else [("id", False)])
        page = first_rows(dialect, tops, keys)
        return (
            select(workflow)
            .join(page, page.c.id == workflow.c.id)
            .order_by(*self.order.terms(page.c.k, page.c.id))
        )

    def count(self) -> Select[Any]:
        """How many workflows the union holds (each set's ids, no rows unless needed)."""
        branches = _grant_branches(self.visible)
        if len(branches) == 1 and branches[0].has_row:
            source, conditions, _key = self._parts(branches[0], False, keyed=False)
            return select(func.count()).select_from(source).where(*conditions)
        ids = []
        for branch in branches:
            source, conditions, _key = self._parts(branch, False, keyed=False)
            ids.append(select(branch.ids).select_from(source).where(*conditions))
        return select(func.count()).select_from(union_of(ids).subquery())


@lru_cache(maxsize=64)  # about 300 KiB each with its compiled form
def statements(query: WorkflowQuery, dialect: str, after: bool) -> tuple[Select[Any], Select[Any]]:
    """The page and count statements of a list request, built once per request shape (building
    costs far more than running them); the page takes the bound values `offset`, `count`,
    `depth` (= offset + count) and, with `after`, `after_id` and `after_key`."""
    return query.page(dialect, after), query.count()
