"""What the torc command modules share: the options object and the leaf-command decorators."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from teamgate.cli.common import leaf_command

if TYPE_CHECKING:
    from teamgate.client.torc import TorcClient


class Options:
    """The group's options, handed to every command."""

    def __init__(
        self, *, url: str, username: str | None, password: str | None, format: str = "table"
    ) -> None:
        self.url = url
        self.username = username
        self.password = password
        self.format = format

    def client(self) -> TorcClient:
        from teamgate.client.torc import TorcClient

        auth = (self.username or "", self.password) if self.password is not None else None
        return TorcClient(self.url, auth=auth)

    @property
    def json(self) -> bool:
        return self.format == "json"


def _store_format(ctx: click.Context, value: str) -> None:
    ctx.find_object(Options).format = value  # type: ignore[union-attr]


command = leaf_command("-f", "--format", apply=_store_format)
pass_options = click.make_pass_decorator(Options)
