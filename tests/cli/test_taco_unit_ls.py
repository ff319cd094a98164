"""`taco unit ls` follows the server's cursors to the end of the list (table and JSON)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.test_taco_cli import ok, taco
from tests.conftest import Server, password_of, start_server, write_htpasswd


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("taco-ls")
    started = start_server(
        root / "server",
        *("--database", str(root / "torc.db"), "--enforce-access-control"),
        *("--auth-file", str(write_htpasswd(root / "htpasswd"))),
    )
    yield started
    started.stop()


def test_unit_ls_lists_every_page_once_in_order(server: Server, tmp_path: Path) -> None:
    paths = sorted(f"pages/{team}/app{i}" for team in ("a", "b", "c") for i in range(5))
    with httpx.Client(
        base_url=f"{server.base_url}/v1", auth=("carol", password_of("carol")), timeout=60
    ) as carol:
        for path in paths:
            assert carol.post("/units", json={"path": path}).status_code == 201

    def ls(*args: str) -> str:
        return ok(taco(server, tmp_path / "config", "carol", "unit", "ls", "pages", *args))

    assert [u["path"] for u in json.loads(ls("-o", "json", "--page-size", "4"))] == paths
    assert json.loads(ls("-o", "json", "--page-size", "2")) == json.loads(ls("-o", "json"))
    table = ls("--page-size", "3")
    rows = [line.split("│")[1].strip() for line in table.splitlines() if "│ pages/" in line]
    assert rows == paths
    assert table.endswith(f"\nTotal: {len(paths)} units\n")
    assert ok(taco(server, tmp_path / "config", "carol", "unit", "ls", "nothing-here")) == (
        "No units found\n"
    )
    empty = taco(server, tmp_path / "config", "carol", "-o", "json", "unit", "ls", "nothing")
    assert json.loads(ok(empty)) == []
    refused = taco(server, tmp_path / "config", "carol", "unit", "ls", "--page-size", "0")
    assert refused.returncode != 0
