"""Engines, transactions and migrations for SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError

from teamgate.errors import ConfigError

log = logging.getLogger("teamgate.storage")

MIGRATIONS = Path(__file__).parent / "migrations"


def database_url(database: str) -> str:
    """Turn a `--database` value (a file path or a URL) into a SQLAlchemy URL."""
    if "://" not in database:
        path = Path(database).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    if database.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + database.split("://", 1)[1]
    return database


class Database:
    """One engine plus helpers for read and write transactions.

    `pool_size` and `max_overflow` size PostgreSQL's connection pool (per process). SQLite
    keeps `pool_size + max_overflow` connections open and opens none beyond them on demand:
    SQLAlchemy's default (5, the rest overflow closed on return) made a server under load
    open connections, and run their PRAGMAs, during requests.
    """

    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 10) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise ConfigError(f"invalid database URL {url!r}: {exc}") from None
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {}
        if self.dialect == "sqlite":
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
            kwargs.update(pool_size=pool_size + max_overflow, max_overflow=0)
        elif self.dialect == "postgresql":
            kwargs.update(pool_size=pool_size, max_overflow=max_overflow)
        else:
            raise ConfigError(
                f"unsupported database {parsed.drivername!r}: use a SQLite path or postgresql://…"
            )
        self.engine: Engine = create_engine(url, **kwargs)
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine)
        else:
            _ping_when_idle(self.engine)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def read_one(self) -> Iterator[Connection]:
        """A connection for reads that need no snapshot across statements (one statement sees
        one consistent state on both databases): no BEGIN and COMMIT around it."""
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                yield conn.execution_options(sqlite_begin=None)
            else:
                yield conn.execution_options(isolation_level="AUTOCOMMIT")

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction; on SQLite it takes the write lock up front (BEGIN IMMEDIATE)."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            with conn.begin():
                yield conn

    def migrate(self) -> None:
        """Bring the schema to the newest revision (idempotent)."""
        logging.getLogger("alembic").setLevel(logging.WARNING)
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def dispose(self) -> None:
        self.engine.dispose()


PING_AFTER_IDLE_SECS = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled PostgreSQL connection before use when it sat idle for a second or more
    (the database may have restarted meanwhile); a dead one is replaced (DisconnectionError
    makes the pool retry with a new connection).

    SQLAlchemy's `pool_pre_ping` checks on every checkout: a round trip that doubled the cost
    of a one-statement read. Under load connections are back in use within milliseconds and
    are not pinged; a connection lost while in use fails that one request with 503 (see
    web.errors), and the pool is renewed."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECS:
            return
        try:
            cursor = dbapi_conn.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            if not dbapi_conn.autocommit:
                dbapi_conn.rollback()  # the ping opened a transaction: end it
        except Exception as exc:  # any failure: this connection is not to be used
            raise DisconnectionError(f"stale connection: {exc}") from exc


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN IMMEDIATE works (SQLAlchemy recipe).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA case_sensitive_like=ON")  # unit paths are case-sensitive
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        begin = conn.get_execution_options().get("sqlite_begin", "BEGIN")
        if begin is not None:  # None: Database.read_one, no transaction
            conn.exec_driver_sql(begin)
