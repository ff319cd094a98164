"""What the workflow and unit lists share: who may see what, cursors, index-friendly patterns.

A list of what a user may read is the union of a few sets, each of which one index serves in
the list's order: what they own, what is shared with their groups, and what each RBAC allow
pattern matches. The sets are merged in that order and the merge stops after `offset + limit
+ 1` rows (`first_rows`), so a page costs about O(sets + page size) index entries, never
O(rows in the table); a cursor (`after`) starts every set past the last row seen. Text bounds are
compared byte-wise: SQLite's BINARY collation and, on PostgreSQL, columns declared
`COLLATE "C"` (migration 0004), so that `[prefix, upper(prefix))` holds exactly the strings
that start with `prefix`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CompoundSelect,
    Integer,
    Select,
    String,
    Subquery,
    bindparam,
    literal_column,
    select,
    union,
    union_all,
)
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from teamgate.domain.rules import literal_prefix
from teamgate.domain.text import unstorable
from teamgate.errors import invalid_cursor

# More branches than this and one ordered scan with an OR filter is cheaper to plan (and
# SQLite refuses compound selects of more than 500 parts).
MAX_BRANCHES = 120
_SURROGATES = range(0xD800, 0xE000)


@dataclass(frozen=True, slots=True)
class Visibility:
    """What `user` may read when access control is on: owned, shared with one of their groups,
    or matched by an RBAC allow pattern; never anything matched by a deny pattern.

    `groups`: ids of the access groups the caller is in through their identity provider's
    groups (no membership rows: what is shared with these is listed by id)."""

    user: str
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    groups: tuple[int, ...] = ()

    @property
    def denies_everything(self) -> bool:
        return "*" in self.deny

    @property
    def allows_everything(self) -> bool:
        return "*" in self.allow

    def live_allow(self) -> list[str]:
        """Allow patterns that a deny pattern does not cancel entirely (those cost a scan
        that can only find denied rows)."""
        return [p for p in dict.fromkeys(self.allow) if not any(_covers(d, p) for d in self.deny)]


def readable_by(
    user: str,
    *,
    allow: Sequence[str] = (),
    deny: Sequence[str] = (),
    groups: Sequence[int] = (),
) -> Visibility:
    """What `user` may read: owned, shared with their groups (or with `groups`, their IdP
    groups' access groups), or matched by an RBAC `allow` pattern (on a unit's path or a
    workflow's `owner/name`), and matched by no `deny` pattern."""
    return Visibility(user, tuple(allow), tuple(deny), tuple(sorted(set(groups))))


def _covers(deny: str, allow: str) -> bool:
    """True when every name `allow` matches is also matched by `deny` (cheap cases only)."""
    if "*" not in deny:
        return deny == allow
    head = deny[:-1]
    return deny.endswith("*") and "*" not in head and literal_prefix(allow).startswith(head)


def group_ids(ids: Sequence[int]) -> list[ColumnElement[int]]:
    """Group ids written into a cached list statement (as `const` writes text): ints only."""
    return [literal_column(str(int(i)), Integer) for i in ids]


def upper_bound(prefix: str) -> str | None:
    """The smallest string above every string that starts with `prefix` (None: no bound)."""
    text = prefix
    while text:
        last = ord(text[-1]) + 1
        if last in _SURROGATES:  # not storable; no stored string contains one either
            last = _SURROGATES.stop
        if last <= 0x10FFFF:
            return text[:-1] + chr(last)
        text = text[:-1]
    return None


@dataclass(frozen=True, slots=True)
class TextRange:
    """The strings from `low` (inclusive; "" = unbounded) to `high` (exclusive; None =
    unbounded)."""

    low: str = ""
    high: str | None = None

    @classmethod
    def starting_with(cls, prefix: str) -> TextRange:
        return cls(prefix, upper_bound(prefix))

    def within(self, other: TextRange) -> TextRange:
        """The intersection with `other`."""
        highs = [h for h in (self.high, other.high) if h is not None]
        return TextRange(max(self.low, other.low), min(highs) if highs else None)

    @property
    def empty(self) -> bool:
        return self.high is not None and self.low >= self.high

    def conditions(self, column: ColumnElement[str]) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.low:
            found.append(column >= const(self.low))
        if self.high is not None:
            found.append(column < const(self.high))
        return found


def may_share_prefix(head: str, prefix: str) -> bool:
    """Whether a string that starts with `prefix` may also start with `head`."""
    return prefix.startswith(head) or head.startswith(prefix)


def union_of(branches: Sequence[Select[Any]]) -> Select[Any] | CompoundSelect[Any]:
    """UNION of the branches (a single branch as it is)."""
    return branches[0] if len(branches) == 1 else union(*branches)


class Constant(ColumnElement[str]):
    """A text constant written into the SQL when the statement is compiled (and cached).

    See `const`. Its value is part of the statement's cache key, so statements that differ
    only in constants never share a compiled form; SQLAlchemy's own literal rendering quotes
    it for the dialect (as for `literal_binds`).
    """

    __visit_name__ = "teamgate_constant"
    inherit_cache = False
    # SQLAlchemy's caching protocol: the value is part of the cache key
    _traverse_internals = [("value", InternalTraversal.dp_string)]  # noqa: RUF012
    type = String()

    def __init__(self, value: str) -> None:
        self.value = value


@compiles(Constant)
def _render_constant(element: Constant, compiler: SQLCompiler, **_kw: Any) -> str:
    rendered: str = compiler.render_literal_value(element.value, String())
    return rendered


def const(value: str) -> Constant:
    """A constant of a cached list statement (a user name, a pattern, a range bound), written
    into its SQL.

    The statements are per user anyway, and PostgreSQL plans a prepared statement whose values
    are all written in once; given parameters, it finds its generic guesses (a range keeps
    0.5% of the table) far costlier than the real plan and plans every execution afresh,
    which costs more than running these unions. (`literal_execute` would write them in on
    every execution instead, about 1 ms for a list of 50 patterns.)
    """
    return Constant(value)


def page_bound(name: str) -> BindParameter[int]:
    """A LIMIT or OFFSET value (`offset`, `count`, `depth`), written into the SQL when it runs.

    As a real parameter, PostgreSQL could not know it when it plans a prepared statement once
    for all values: it guesses that LIMIT $1 keeps a tenth of the rows and keeps planning
    every execution afresh (several ms for these unions) rather than take that generic plan.
    Written in, the statement's plan is made once per page size and reused.
    """
    return bindparam(name, type_=Integer, literal_execute=True)


# Sort keys of a row set: (column name, descending).
Keys = Sequence[tuple[str, bool]]


def _ordered(columns: Any, keys: Keys) -> list[Any]:
    return [columns[name].desc() if down else columns[name].asc() for name, down in keys]


def first_rows(dialect: str, branches: Sequence[tuple[Select[Any], bool]], keys: Keys) -> Subquery:
    """The rows `offset` to `offset + count` (bound parameters) of the union of `branches`,
    without duplicates, in the order of `keys` (columns every branch selects by name). Each
    branch comes with whether it may hold a row twice.

    Each dialect gets the form its planner runs lazily, reading about `offset + count` index
    entries in all rather than every member of every branch:
    - SQLite: a compound UNION with ORDER BY and LIMIT runs as a merge of the branches, each
      a co-routine that yields rows in index order (MERGE (UNION)).
    - PostgreSQL: a UNION ALL of branches each cut to their first `depth` (= offset + count)
      rows becomes a Merge Append that the outer LIMIT stops early; DISTINCT ON the sort keys
      then drops the copies of a row that several branches hold. (A plain UNION is hashed
      or sorted whole.) A branch that may repeat a row is made DISTINCT first, or its first
      `depth` rows could hold fewer than `depth` rows. SQLite needs no such thing (no branch
      is cut), and there DISTINCT with NOT IN would cost ten times the rest.
    """
    offset, count = page_bound("offset"), page_bound("count")
    if dialect == "sqlite":
        merged = union_of([branch for branch, _repeats in branches])
        return (
            merged.order_by(*_ordered(merged.selected_columns, keys))
            .offset(offset)
            .limit(count)
            .subquery("page")
        )
    depth = page_bound("depth")
    tops = []
    for branch, repeats in branches:
        branch = branch.distinct() if repeats else branch
        top = branch.order_by(*_ordered(branch.selected_columns, keys)).limit(depth).subquery()
        tops.append(select(*top.c))
    both = tops[0].subquery("visible") if len(tops) == 1 else union_all(*tops).subquery("visible")
    page = select(*both.c).ext(distinct_on(*(both.c[name] for name, _down in keys)))
    return page.order_by(*_ordered(both.c, keys)).offset(offset).limit(count).subquery("page")


MAX_CURSOR_TEXT = 4096  # characters in one text field: the longest sort key (a description)
# The longest cursor this server makes: that key with every character escaped in JSON (6 bytes),
# plus the other fields, in base64. Anything longer is not one of its cursors.
MAX_CURSOR_CHARS = (6 * MAX_CURSOR_TEXT + 256) * 4 // 3
INT64 = range(-(2**63), 2**63)
ROW_IDS = range(0, 2**31)  # ids are INTEGER columns: 32 bits on PostgreSQL
CursorField = type | range  # a type, or the range an int must lie in


def encode_cursor(fields: dict[str, Any]) -> str:
    """An opaque cursor: URL-safe base64 of compact JSON (UTF-8, so non-ASCII keys stay short)."""
    raw = json.dumps(fields, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(
    cursor: str,
    required: Mapping[str, CursorField],
    optional: Mapping[str, CursorField] | None = None,
) -> dict[str, Any]:
    """The fields of a cursor made by `encode_cursor`: every key of `required`, perhaps some of
    `optional`, nothing else, each of its type (ints within the range given, or 64 bits; text
    bounded, without NUL or lone surrogates). Invalid for anything else, never a value SQL
    cannot hold."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise invalid_cursor(f"it is longer than {MAX_CURSOR_CHARS} characters")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        fields = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        fields = None
    if not isinstance(fields, dict):
        raise invalid_cursor("it is not one this server returned")
    expected = {**(optional or {}), **required}
    if not required.keys() <= fields.keys() <= expected.keys():
        raise invalid_cursor("it is not a cursor of this list")
    for name, value in fields.items():
        _check_field(name, value, expected[name])
    return fields


def _check_field(name: str, value: Any, kind: CursorField) -> None:
    if isinstance(kind, range) or kind is int:
        bounds = kind if isinstance(kind, range) else INT64
        if type(value) is not int or value not in bounds:
            raise invalid_cursor(
                f"field '{name}' is not a whole number from {bounds.start} to {bounds.stop - 1}"
            )
    elif type(value) is not kind:
        raise invalid_cursor(f"field '{name}' is not of type {kind.__name__}")
    elif isinstance(value, str) and (len(value) > MAX_CURSOR_TEXT or unstorable(value)):
        raise invalid_cursor(
            f"field '{name}' is longer than {MAX_CURSOR_TEXT} characters or holds a NUL "
            "character or a lone surrogate"
        )
