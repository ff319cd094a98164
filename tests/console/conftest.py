"""Fixtures of the console's in-process tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from tests.conftest import start_app
from tests.console.helpers import Viewer, sign_in
from tests.inprocess import App


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """One tutorial server (auth required, access control on, alice administrator) for a
    module's tests: each test makes its own workflows, units and groups."""
    with ExitStack() as stack:
        yield start_app(
            stack,
            tmp_path_factory.mktemp("console"),
            require_auth=True,
            enforce_access_control=True,
            admin_users=("alice",),
        )


@pytest.fixture(scope="module")
def viewers(app: App) -> dict[str, Viewer]:
    """alice, bob, carol and dave, each signed in to the console of `app`."""
    return {user: sign_in(app, user) for user in ("alice", "bob", "carol", "dave")}
