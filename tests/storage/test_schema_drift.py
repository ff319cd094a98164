"""The migrations and `tables.metadata` describe the same schema, on SQLite and on PostgreSQL.

A column, index, constraint, type, collation or server default added to one and not the other
shows up here as a difference that Alembic's autogenerate would turn into a migration."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Index, text

from teamgate.storage.db.engine import Database
from teamgate.storage.db.tables import metadata


def _declared_here(dialect: str) -> Any:
    """Leave out what tables.py declares for another database only (`Index.ddl_if`).

    Alembic does not read `ddl_if`, so without this SQLite would be told to add PostgreSQL's
    `INCLUDE` index. It is the only difference ignored: each such object is still compared on the
    database it is declared for.
    """

    def include(obj: Any, _name: Any, kind: str, reflected: bool, _other: Any) -> bool:
        if kind == "index" and not reflected and isinstance(obj, Index):
            only = obj._ddl_if  # SQLAlchemy keeps what ddl_if() was given here
            return only is None or only.dialect in (None, dialect)
        return True

    return include


def _differences(db: Database) -> list[Any]:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_object": _declared_here(conn.dialect.name),
            },
        )
        return list(compare_metadata(context, metadata))


def test_migrations_match_the_tables(database: Database) -> None:
    assert _differences(database) == []


def test_a_drift_is_found(database: Database) -> None:
    """The comparison sees what it is meant to: a column that tables.py lacks."""
    with database.write() as conn:
        conn.execute(text("ALTER TABLE unit ADD COLUMN lock_note TEXT"))
    kinds = [(diff[0], diff[2]) for diff in _differences(database)]
    assert kinds == [("remove_column", "unit")]
