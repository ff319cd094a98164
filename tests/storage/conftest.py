"""One storage contract, run on a real SQLite file and on the machine's PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from teamgate.storage.db.engine import Database, database_url
from tests.conftest import PG, runs_on


# Both databases unless TEAMGATE_TEST_BACKEND picks one (scripts/test runs a pass for each).
@pytest.fixture(params=[b for b in ("sqlite", "postgresql") if runs_on(b)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        db = Database(database_url(str(tmp_path / "torc.db")))
        db.migrate()
        yield db
        db.dispose()
        return
    name = PG.create()
    db = Database(database_url(PG.url(name)))
    try:
        db.migrate()  # a no-op on the migrated copy; what a server does when it starts
        yield db
    finally:
        db.dispose()
        PG.drop(name)
