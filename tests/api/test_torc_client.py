"""The published Python client (torc-client 0.35.0, `torc.openapi_client`) against the server.

Every call the SPEC lists for REST compatibility is exercised through `SystemApi`, `WorkflowsApi`
and `AccessControlApi`, on three module-wide servers in this process (the client's urllib3 pool
is replaced by one that calls the application, tests/inprocess.py;
tests/e2e/test_torc_client_socket.py drives the stock client over a real socket):

- `open`: no auth file, everyone is anonymous (Torc's `start_server`; tests 1–16 of
  `tests/test_access_groups.rs` are ported here);
- `auth-optional`: an auth file, access control on, alice an administrator
  (Torc's `start_server_with_access_control`);
- `auth-required`: the same plus `--require-auth` (the tutorial's server).

Torc's enforcement tests 17–24 run on both enforcing servers. The stock client never sends Basic
credentials by itself, so `connect()` sets the Authorization header explicitly.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from torc.openapi_client import (
    AccessControlApi,
    AccessGroupModel,
    ApiClient,
    Configuration,
    ErrorResponse,
    SystemApi,
    UserGroupMembershipModel,
    WorkflowModel,
    WorkflowsApi,
)
from torc.openapi_client.exceptions import (
    ApiException,
    BadRequestException,
    ConflictException,
    ForbiddenException,
    NotFoundException,
    UnauthorizedException,
)

from teamgate import __version__
from tests.conftest import USERS, database_for, password_of, write_htpasswd
from tests.inprocess import App, PoolManager, running, settings_for

# Torc's access-control fixture users that the ported tests need, besides alice, bob, carol, dave.
TORC_USERS = (
    "shared_user",
    "owner_user",
    "outsider",
    "removable_user",
    "unauthorized_user",
)
ADMIN = "alice"
MISSING = 987_654
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
NO_GRANT = "no matching grant"
ENFORCING = ("auth-optional", "auth-required")

_serial = itertools.count(1)


def unique(prefix: str) -> str:
    """A name no other test uses: the servers are shared by the whole module."""
    return f"{prefix}-{next(_serial)}"


# -- clients -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TorcClient:
    """One caller: the three API classes of torc-client sharing one ApiClient."""

    user: str | None
    system: SystemApi
    workflows: WorkflowsApi
    access: AccessControlApi


def connect(server: App, user: str | None = None, *, password: str | None = None) -> TorcClient:
    config = Configuration(host=server.torc_url)
    api_client = ApiClient(config)
    api_client.rest_client.pool_manager = PoolManager(server)
    if user is not None:
        config.username = user
        config.password = password_of(user) if password is None else password
        # torc-client lists no auth settings for any operation: without this header it sends
        # no credentials at all, whatever Configuration says.
        api_client.set_default_header(  # type: ignore[no-untyped-call]
            "Authorization", config.get_basic_auth_token()
        )
    return TorcClient(
        user, SystemApi(api_client), WorkflowsApi(api_client), AccessControlApi(api_client)
    )


@dataclass
class Deployment:
    """A running server plus cached clients; `admin` sets things up (anonymous when open)."""

    mode: str
    server: App
    admin_user: str | None
    _clients: dict[str | None, TorcClient] = field(default_factory=dict)
    _scratch: Scratch | None = None

    def as_user(self, user: str | None) -> TorcClient:
        if user not in self._clients:
            self._clients[user] = connect(self.server, user)
        return self._clients[user]

    @property
    def admin(self) -> TorcClient:
        return self.as_user(self.admin_user)

    @property
    def scratch(self) -> Scratch:
        """A workflow, a group with one member, and a second group the workflow is shared with."""
        if self._scratch is None:
            api = self.admin
            workflow = create_workflow(api, user="scratch-owner")
            group = create_group(api, description="original")
            shared = create_group(api)
            add_member(api, id_of(group), "member-x")
            api.access.add_workflow_to_group(id_of(workflow), id_of(shared))
            self._scratch = Scratch(
                id_of(workflow), id_of(group), group.name, id_of(shared), "member-x"
            )
        return self._scratch


@dataclass(frozen=True)
class Scratch:
    workflow: int
    group: int
    group_name: str
    shared_group: int
    member: str


def server_settings(mode: str) -> dict[str, Any]:
    if mode == "open":
        return {}
    return {
        "enforce_access_control": True,
        "admin_users": (ADMIN,),
        "require_auth": mode == "auth-required",
    }


@pytest.fixture(scope="module")
def deployments(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Deployment]]:
    root = tmp_path_factory.mktemp("torc-client")
    htpasswd = write_htpasswd(root / "htpasswd", (*USERS, *TORC_USERS))
    started: dict[str, Deployment] = {}
    with ExitStack() as stack:

        def get(mode: str) -> Deployment:
            if mode not in started:
                workdir = root / mode
                settings = settings_for(
                    workdir,
                    database_for(workdir / "torc.db"),
                    None if mode == "open" else htpasswd,
                    **server_settings(mode),
                )
                app = stack.enter_context(running(settings))
                started[mode] = Deployment(mode, app, None if mode == "open" else ADMIN)
            return started[mode]

        yield get


@pytest.fixture
def open_server(deployments: Callable[[str], Deployment]) -> Deployment:
    return deployments("open")


@pytest.fixture
def anon(open_server: Deployment) -> TorcClient:
    """An anonymous caller of the server without authentication."""
    return open_server.admin


@pytest.fixture
def secured(deployments: Callable[[str], Deployment]) -> Deployment:
    return deployments("auth-required")


@pytest.fixture(params=ENFORCING)
def enforcing(
    request: pytest.FixtureRequest, deployments: Callable[[str], Deployment]
) -> Deployment:
    return deployments(request.param)


@pytest.fixture(params=["open", "auth-required"])
def any_mode(
    request: pytest.FixtureRequest, deployments: Callable[[str], Deployment]
) -> Deployment:
    """The open server (anonymous) and the tutorial's server (as the administrator alice)."""
    return deployments(request.param)


# -- helpers -------------------------------------------------------------------------------


def id_of(model: AccessGroupModel | WorkflowModel | UserGroupMembershipModel) -> int:
    assert model.id is not None, model
    return model.id


def create_group(
    api: TorcClient, name: str | None = None, description: str | None = None
) -> AccessGroupModel:
    model = AccessGroupModel(
        name=unique("group") if name is None else name, description=description
    )
    return api.access.create_access_group(model)


def create_workflow(
    api: TorcClient, name: str | None = None, user: str = "wf-user", **fields: Any
) -> WorkflowModel:
    model = WorkflowModel(name=name or unique("workflow"), user=user, **fields)
    return api.workflows.create_workflow(model)


def add_member(
    api: TorcClient, group_id: int, user: str, role: str = "member"
) -> UserGroupMembershipModel:
    model = UserGroupMembershipModel(user_name=user, group_id=group_id, role=role)
    return api.access.add_user_to_group(group_id, model)


ERRORS: dict[int, tuple[type[ApiException], str]] = {
    400: (BadRequestException, "BadRequest"),
    401: (UnauthorizedException, "Unauthorized"),
    403: (ForbiddenException, "Forbidden"),
    404: (NotFoundException, "NotFound"),
    409: (ConflictException, "Conflict"),
}


def error_body(exc: ApiException) -> dict[str, Any]:
    """Our JSON error body: exactly `error` and `message`."""
    assert exc.body is not None
    body: dict[str, Any] = json.loads(exc.body)
    assert set(body) == {"error", "message"}, body
    return body


def expect_error(
    status: int, call: Callable[[], object], message: str | None = None
) -> ApiException:
    """`call` raises the client's exception for `status`, with our JSON error body."""
    exc_type, kind = ERRORS[status]
    with pytest.raises(ApiException) as info:
        call()
    exc = info.value
    assert type(exc) is exc_type, (exc.status, exc.body)
    assert exc.status == status
    body = error_body(exc)
    assert body["error"] == kind, body
    if message is not None:
        assert body["message"] == message
    return exc


def group_names(page: Any) -> list[str]:
    return [g.name for g in page.items]


def denied(user: str, workflow_id: int) -> str:
    return f"User '{user}' does not have access to workflow {workflow_id}"


# -- system --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "user"),
    [("open", None), ("auth-optional", None), ("auth-optional", "carol"), ("auth-required", "bob")],
)
def test_ping_and_get_version(
    deployments: Callable[[str], Deployment], mode: str, user: str | None
) -> None:
    api = deployments(mode).as_user(user)
    assert api.system.ping().status == "ok"
    version = api.system.get_version()
    assert version.api_version == "0.21.0"
    assert version.version == __version__
    assert version.git_hash is None


# -- access groups: Torc tests 1–10 (anonymous, no auth) -----------------------------------


@pytest.mark.parametrize("description", ["A test group", None])
def test_create_access_group(anon: TorcClient, description: str | None) -> None:
    """Torc 1 and 2: the created group echoes name and description and gets an id and a time."""
    name = unique("test-group")
    group = create_group(anon, name, description)
    assert isinstance(group.id, int) and group.id > 0
    assert group.name == name
    assert group.description == description
    assert group.created_at is not None and TIMESTAMP.fullmatch(group.created_at)


def test_get_access_group(anon: TorcClient) -> None:
    """Torc 3."""
    created = create_group(anon, description="to fetch")
    fetched = anon.access.get_access_group(id_of(created))
    assert fetched == created


def test_list_access_groups(anon: TorcClient) -> None:
    """Torc 4: defaults list every group, with Torc's paging fields."""
    names = [unique("list-group") for _ in range(3)]
    ids = [id_of(create_group(anon, name)) for name in names]
    page = anon.access.list_access_groups()
    assert page.offset == 0
    assert page.limit == 10_000
    assert page.has_more is False
    assert page.total_count == len(page.items) >= 3
    listed = {g.id: g.name for g in page.items}
    assert [listed[i] for i in ids] == names


def test_list_access_groups_pagination(anon: TorcClient) -> None:
    """Torc 5, extended: walking pages of 2 gives every group exactly once."""
    for _ in range(5):
        create_group(anon, unique("page-group"))
    everything = anon.access.list_access_groups()
    walked: list[int] = []
    offset = 0
    while True:
        page = anon.access.list_access_groups(offset=offset, limit=2)
        assert (page.offset, page.limit, page.total_count) == (offset, 2, everything.total_count)
        assert len(page.items) <= 2
        assert page.has_more == (offset + len(page.items) < page.total_count)
        walked.extend(id_of(g) for g in page.items)
        if not page.has_more:
            break
        offset += 2
    assert walked == [id_of(g) for g in everything.items]
    beyond = anon.access.list_access_groups(offset=everything.total_count + 5, limit=2)
    assert (beyond.items, beyond.has_more) == ([], False)


def test_delete_access_group(anon: TorcClient) -> None:
    """Torc 6: delete returns the deleted group; it is gone afterwards."""
    group = create_group(anon, description="short-lived")
    deleted = anon.access.delete_access_group(id_of(group))
    assert (deleted.id, deleted.name, deleted.description) == (group.id, group.name, "short-lived")
    missing = f"Group not found with ID: {group.id}"
    expect_error(404, lambda: anon.access.get_access_group(id_of(group)), missing)
    expect_error(404, lambda: anon.access.delete_access_group(id_of(group)), missing)
    assert group.name not in group_names(anon.access.list_access_groups())


@pytest.mark.parametrize("role", ["member", "admin"])
def test_add_user_to_group(anon: TorcClient, role: str) -> None:
    """Torc 7."""
    group_id = id_of(create_group(anon))
    member = add_member(anon, group_id, "alice", role)
    assert isinstance(member.id, int)
    assert (member.user_name, member.group_id, member.role) == ("alice", group_id, role)
    assert member.created_at is not None and TIMESTAMP.fullmatch(member.created_at)


def test_list_group_members(anon: TorcClient) -> None:
    """Torc 8, plus paging."""
    group_id = id_of(create_group(anon))
    for user in ("bob", "carol", "dave"):
        add_member(anon, group_id, user)
    page = anon.access.list_group_members(group_id)
    assert page.total_count == 3 and page.has_more is False and page.offset == 0
    assert sorted((m.user_name, m.group_id, m.role) for m in page.items) == [
        ("bob", group_id, "member"),
        ("carol", group_id, "member"),
        ("dave", group_id, "member"),
    ]
    middle = anon.access.list_group_members(group_id, offset=1, limit=1)
    assert (middle.offset, middle.limit, middle.total_count, middle.has_more) == (1, 1, 3, True)
    assert [m.id for m in middle.items] == [page.items[1].id]


def test_remove_user_from_group(anon: TorcClient) -> None:
    """Torc 9: the removed membership comes back; eve is no longer listed."""
    group_id = id_of(create_group(anon))
    added = add_member(anon, group_id, "eve")
    add_member(anon, group_id, "frank")
    removed = anon.access.remove_user_from_group(group_id, "eve")
    assert (removed.id, removed.user_name, removed.group_id, removed.role) == (
        added.id,
        "eve",
        group_id,
        "member",
    )
    members = anon.access.list_group_members(group_id)
    assert [m.user_name for m in members.items] == ["frank"]
    expect_error(
        404,
        lambda: anon.access.remove_user_from_group(group_id, "eve"),
        f"Membership not found for user 'eve' in group {group_id}",
    )


def test_list_user_groups(anon: TorcClient) -> None:
    """Torc 10: a user in three groups; pages; a user in none."""
    user = unique("multi-group-user")
    names = [unique("user-group") for _ in range(3)]
    for name in names:
        add_member(anon, id_of(create_group(anon, name)), user)
    create_group(anon)  # a group the user is not in
    page = anon.access.list_user_groups(user)
    assert group_names(page) == names
    assert (page.total_count, page.has_more, page.offset) == (3, False, 0)
    first = anon.access.list_user_groups(user, offset=0, limit=2)
    assert (group_names(first), first.limit, first.has_more) == (names[:2], 2, True)
    none = anon.access.list_user_groups(unique("nobody"))
    assert (none.items, none.total_count, none.has_more) == ([], 0, False)


# -- workflows and groups: Torc tests 11–16 (anonymous, no auth) ---------------------------


def test_add_workflow_to_group(anon: TorcClient) -> None:
    """Torc 11: the association echoes both ids; the workflow now lists the group."""
    workflow = create_workflow(anon, user="wf-user")
    group = create_group(anon)
    share = anon.access.add_workflow_to_group(id_of(workflow), id_of(group))
    assert (share.workflow_id, share.group_id) == (workflow.id, group.id)
    assert share.created_at is not None and TIMESTAMP.fullmatch(share.created_at)
    assert anon.workflows.get_workflow(id_of(workflow)).access_groups == [group.name]


def test_list_workflow_groups(anon: TorcClient) -> None:
    """Torc 12, plus paging."""
    workflow_id = id_of(create_workflow(anon, user="wf-user-2"))
    names = [unique("wf-group") for _ in range(3)]
    for name in names:
        anon.access.add_workflow_to_group(workflow_id, id_of(create_group(anon, name)))
    page = anon.access.list_workflow_groups(workflow_id)
    assert group_names(page) == names
    assert (page.total_count, page.has_more) == (3, False)
    last = anon.access.list_workflow_groups(workflow_id, offset=2, limit=5)
    assert (group_names(last), last.offset, last.limit, last.has_more) == (names[2:], 2, 5, False)


def test_remove_workflow_from_group(anon: TorcClient) -> None:
    """Torc 13: the removed association comes back; the group is no longer listed."""
    workflow_id = id_of(create_workflow(anon, user="wf-user-3"))
    keep, drop = create_group(anon), create_group(anon)
    for group in (keep, drop):
        anon.access.add_workflow_to_group(workflow_id, id_of(group))
    removed = anon.access.remove_workflow_from_group(workflow_id, id_of(drop))
    assert (removed.workflow_id, removed.group_id) == (workflow_id, drop.id)
    assert group_names(anon.access.list_workflow_groups(workflow_id)) == [keep.name]
    assert anon.workflows.get_workflow(workflow_id).access_groups == [keep.name]
    expect_error(
        404,
        lambda: anon.access.remove_workflow_from_group(workflow_id, id_of(drop)),
        f"Association not found for workflow {workflow_id} in group {drop.id}",
    )


def test_check_workflow_access_without_auth(anon: TorcClient) -> None:
    """Torc 14–16: access_check answers as if access control were on, even when it is off."""
    workflow_id = id_of(create_workflow(anon, user="owner-user"))
    group_id = id_of(create_group(anon, "checkers-" + unique("g")))
    add_member(anon, group_id, "group-member")

    def check(user: str) -> tuple[bool, str | None]:
        result = anon.access.check_workflow_access(workflow_id, user)
        assert (result.user_name, result.workflow_id) == (user, workflow_id)
        return result.has_access, result.reason

    assert check("owner-user") == (True, "owner")
    assert check("group-member") == (False, NO_GRANT)
    assert check("random-user") == (False, NO_GRANT)
    anon.access.add_workflow_to_group(workflow_id, group_id)
    group_name = anon.access.get_access_group(group_id).name
    assert check("group-member") == (True, f"group '{group_name}' (write)")
    assert check("random-user") == (False, NO_GRANT)


# -- workflows ------------------------------------------------------------------------------


def test_create_and_get_workflow(anon: TorcClient) -> None:
    """Every field the server stores comes back from create and from get, unchanged."""
    name = unique("full")
    created = create_workflow(
        anon,
        name,
        user="wf-owner",
        description="all the fields",
        project="proj-x",
        env={"A": "1"},
        metadata={"k": [1, 2], "nested": {"x": True}},
        compute_node_wait_for_new_jobs_seconds=5,
        use_pending_failed=True,
    )
    assert isinstance(created.id, int)
    assert (created.name, created.user, created.description, created.project) == (
        name,
        "wf-owner",
        "all the fields",
        "proj-x",
    )
    assert created.env == {"A": "1"}
    assert created.metadata == {"k": [1, 2], "nested": {"x": True}}
    assert created.compute_node_wait_for_new_jobs_seconds == 5
    assert created.use_pending_failed is True
    assert (created.is_archived, created.is_canceled, created.access_groups) == (False, False, [])
    assert created.timestamp is not None and TIMESTAMP.fullmatch(created.timestamp)
    assert anon.workflows.get_workflow(id_of(created)) == created


def test_create_workflow_with_access_groups(any_mode: Deployment) -> None:
    """`access_groups` names resolve to groups and share the new workflow with them."""
    api = any_mode.admin
    first, second = create_group(api), create_group(api)
    add_member(api, id_of(second), "carol")
    created = create_workflow(
        api, user=api.user or "wf-user", access_groups=[first.name, second.name, first.name]
    )
    assert created.access_groups == [first.name, second.name]
    workflow_id = id_of(created)
    assert api.workflows.get_workflow(workflow_id).access_groups == [first.name, second.name]
    assert group_names(api.access.list_workflow_groups(workflow_id)) == [first.name, second.name]
    check = api.access.check_workflow_access(workflow_id, "carol")
    assert (check.has_access, check.reason) == (True, f"group '{second.name}' (write)")


@pytest.mark.parametrize("with_known_group", [False, True])
def test_create_workflow_with_unknown_group_creates_nothing(
    any_mode: Deployment, with_known_group: bool
) -> None:
    api = any_mode.admin
    known = [create_group(api).name] if with_known_group else []
    missing = unique("no-such-group")
    name = unique("never-created")
    model = WorkflowModel(name=name, user=api.user or "wf-user", access_groups=[*known, missing])
    exc = expect_error(404, lambda: api.workflows.create_workflow(model))
    body = error_body(exc)
    assert body["message"].startswith(f"Access group '{missing}' not found")
    # create_workflow is the one call whose error bodies the client parses (into ErrorResponse).
    assert isinstance(exc.data, ErrorResponse) and exc.data.error == "NotFound"
    assert api.workflows.list_workflows(name=name).total_count == 0


def test_delete_workflow(anon: TorcClient) -> None:
    """Delete returns the deleted workflow; it and its shares are gone afterwards."""
    group = create_group(anon)
    created = create_workflow(anon, user="deleter", description="bye", access_groups=[group.name])
    workflow_id = id_of(created)
    deleted = anon.workflows.delete_workflow(workflow_id)
    assert (deleted.id, deleted.name, deleted.user, deleted.description) == (
        workflow_id,
        created.name,
        "deleter",
        "bye",
    )
    assert deleted.timestamp == created.timestamp
    missing = f"Workflow not found with ID: {workflow_id}"
    for call in (
        anon.workflows.get_workflow,
        anon.workflows.delete_workflow,
        anon.access.list_workflow_groups,
    ):
        expect_error(404, functools.partial(call, workflow_id), missing)
    assert anon.workflows.list_workflows(name=created.name).total_count == 0
    assert anon.access.get_access_group(id_of(group)).name == group.name  # the group stays


@dataclass(frozen=True)
class Catalogue:
    user: str
    ids: dict[str, int]  # workflow name → id, in creation order


@pytest.fixture(scope="module")
def catalogue(deployments: Callable[[str], Deployment]) -> Catalogue:
    """Five workflows of one user on the open server, for list_workflows."""
    api = deployments("open").admin
    user = unique("lister")
    descriptions = {
        "delta": "weekly",
        "alpha": "50% done, nightly",
        "echo": None,
        "charlie": "50% nightly",
        "bravo": "50x done",
    }
    ids = {
        name: id_of(create_workflow(api, name, user=user, description=description))
        for name, description in descriptions.items()
    }
    return Catalogue(user, ids)


def test_list_workflows_pagination(anon: TorcClient, catalogue: Catalogue) -> None:
    everything = anon.workflows.list_workflows(user=catalogue.user)
    assert [w.id for w in everything.items] == list(catalogue.ids.values())  # by id
    assert (everything.offset, everything.count, everything.total_count) == (0, 5, 5)
    assert (everything.max_limit, everything.has_more) == (10_000, False)
    assert {w.user for w in everything.items} == {catalogue.user}
    walked: list[int] = []
    for offset, count, has_more in ((0, 2, True), (2, 2, True), (4, 1, False)):
        page = anon.workflows.list_workflows(offset=offset, limit=2, user=catalogue.user)
        assert (page.offset, page.count, page.total_count, page.has_more) == (
            offset,
            count,
            5,
            has_more,
        )
        assert len(page.items) == count
        walked.extend(id_of(w) for w in page.items)
    assert walked == list(catalogue.ids.values())
    beyond = anon.workflows.list_workflows(offset=7, limit=2, user=catalogue.user)
    assert (beyond.items, beyond.count, beyond.total_count, beyond.has_more) == ([], 0, 5, False)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"name": "charlie"}, ["charlie"]),
        ({"description": "nightly"}, ["alpha", "charlie"]),
        ({"description": "50%"}, ["alpha", "charlie"]),  # % is literal, not a wildcard
        ({"description": "ly"}, ["delta", "alpha", "charlie"]),
        ({"is_archived": False}, ["delta", "alpha", "echo", "charlie", "bravo"]),
        ({"is_archived": True}, []),
        ({"sort_by": "name"}, ["alpha", "bravo", "charlie", "delta", "echo"]),
        ({"sort_by": "name", "reverse_sort": True}, ["echo", "delta", "charlie", "bravo", "alpha"]),
        ({"sort_by": "id", "reverse_sort": True}, ["bravo", "charlie", "echo", "alpha", "delta"]),
        ({"name": "alpha", "description": "weekly"}, []),
    ],
)
def test_list_workflows_filters(
    anon: TorcClient, catalogue: Catalogue, filters: dict[str, Any], expected: list[str]
) -> None:
    page = anon.workflows.list_workflows(user=catalogue.user, **filters)
    assert [w.name for w in page.items] == expected
    assert [w.id for w in page.items] == [catalogue.ids[n] for n in expected]
    assert page.count == page.total_count == len(expected)


def test_list_workflows_user_filter(anon: TorcClient, catalogue: Catalogue) -> None:
    assert anon.workflows.list_workflows(user=unique("nobody")).total_count == 0
    # someone else's workflow, made here: what other tests left on the module server depends
    # on which worker ran them
    create_workflow(anon, "not-the-listers", user=unique("other"))
    everyone = anon.workflows.list_workflows()
    mine = [w.id for w in everyone.items if w.user == catalogue.user]
    assert mine == list(catalogue.ids.values())
    assert everyone.total_count == everyone.count > 5


# -- 400 / 404 / 409 -------------------------------------------------------------------------

BAD_REQUESTS: dict[str, tuple[Callable[[TorcClient, Scratch], object], str | None]] = {
    "role not member or admin": (
        lambda api, s: add_member(api, s.group, "zed", role="owner"),
        "unknown role 'owner': use 'member' or 'admin'",
    ),
    "group_id in body differs from path": (
        lambda api, s: api.access.add_user_to_group(
            s.group,
            UserGroupMembershipModel(user_name="zed", group_id=s.shared_group, role="member"),
        ),
        "group_id {shared} in the body does not match group {group} in the path",
    ),
    "empty group name": (lambda api, s: create_group(api, ""), None),
    "limit 0": (lambda api, s: api.workflows.list_workflows(limit=0), None),
    "limit over 10000": (lambda api, s: api.access.list_access_groups(limit=10_001), None),
    "negative offset": (lambda api, s: api.access.list_group_members(s.group, offset=-1), None),
    "unknown sort column": (
        lambda api, s: api.workflows.list_workflows(sort_by="name; DROP TABLE workflow"),
        "cannot sort by 'name; DROP TABLE workflow': use one of description, id, name, "
        "timestamp, user",
    ),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_requests_are_400(any_mode: Deployment, case: str) -> None:
    call, message = BAD_REQUESTS[case]
    scratch = any_mode.scratch
    if message is not None:
        message = message.format(shared=scratch.shared_group, group=scratch.group)
    expect_error(400, lambda: call(any_mode.admin, scratch), message)
    members = any_mode.admin.access.list_group_members(scratch.group)
    assert [m.user_name for m in members.items] == [scratch.member]  # nothing added


NOT_FOUND: dict[str, tuple[Callable[[TorcClient, Scratch], object], str]] = {
    "get_workflow": (
        lambda api, s: api.workflows.get_workflow(MISSING),
        "Workflow not found with ID: {missing}",
    ),
    "delete_workflow": (
        lambda api, s: api.workflows.delete_workflow(MISSING),
        "Workflow not found with ID: {missing}",
    ),
    "list_workflow_groups": (
        lambda api, s: api.access.list_workflow_groups(MISSING),
        "Workflow not found with ID: {missing}",
    ),
    "check_workflow_access": (
        lambda api, s: api.access.check_workflow_access(MISSING, "bob"),
        "Workflow not found with ID: {missing}",
    ),
    "add_workflow_to_group, no workflow": (
        lambda api, s: api.access.add_workflow_to_group(MISSING, s.group),
        "Workflow not found with ID: {missing}",
    ),
    "add_workflow_to_group, no group": (
        lambda api, s: api.access.add_workflow_to_group(s.workflow, MISSING),
        "Group not found with ID: {missing}",
    ),
    "remove_workflow_from_group, not shared": (
        lambda api, s: api.access.remove_workflow_from_group(s.workflow, s.group),
        "Association not found for workflow {workflow} in group {group}",
    ),
    "get_access_group": (
        lambda api, s: api.access.get_access_group(MISSING),
        "Group not found with ID: {missing}",
    ),
    "delete_access_group": (
        lambda api, s: api.access.delete_access_group(MISSING),
        "Group not found with ID: {missing}",
    ),
    "list_group_members": (
        lambda api, s: api.access.list_group_members(MISSING),
        "Group not found with ID: {missing}",
    ),
    "add_user_to_group": (
        lambda api, s: add_member(api, MISSING, "bob"),
        "Group not found with ID: {missing}",
    ),
    "remove_user_from_group, no group": (
        lambda api, s: api.access.remove_user_from_group(MISSING, "bob"),
        "Group not found with ID: {missing}",
    ),
    "remove_user_from_group, not a member": (
        lambda api, s: api.access.remove_user_from_group(s.group, "nobody"),
        "Membership not found for user 'nobody' in group {group}",
    ),
}


@pytest.mark.parametrize("case", list(NOT_FOUND))
def test_missing_things_are_404(any_mode: Deployment, case: str) -> None:
    call, message = NOT_FOUND[case]
    scratch = any_mode.scratch
    expected = message.format(missing=MISSING, workflow=scratch.workflow, group=scratch.group)
    expect_error(404, lambda: call(any_mode.admin, scratch), expected)


CONFLICTS: dict[str, tuple[Callable[[TorcClient, Scratch], object], str]] = {
    "duplicate group name": (
        lambda api, s: create_group(api, s.group_name, "a different description"),
        "Group '{name}' already exists",
    ),
    "duplicate membership": (
        lambda api, s: add_member(api, s.group, s.member, role="admin"),
        "User '{member}' is already a member of group {group}",
    ),
    "duplicate share": (
        lambda api, s: api.access.add_workflow_to_group(s.workflow, s.shared_group),
        "Workflow {workflow} is already associated with group {shared} (write)",
    ),
}


@pytest.mark.parametrize("case", list(CONFLICTS))
def test_conflicts_are_409_and_change_nothing(any_mode: Deployment, case: str) -> None:
    call, message = CONFLICTS[case]
    api, s = any_mode.admin, any_mode.scratch
    expected = message.format(
        name=s.group_name,
        member=s.member,
        group=s.group,
        workflow=s.workflow,
        shared=s.shared_group,
    )
    expect_error(409, lambda: call(api, s), expected)
    group = api.access.get_access_group(s.group)
    assert (group.name, group.description) == (s.group_name, "original")
    assert group_names(api.access.list_access_groups()).count(s.group_name) == 1
    members = api.access.list_group_members(s.group).items
    assert [(m.user_name, m.role) for m in members] == [(s.member, "member")]
    shares = api.access.list_workflow_groups(s.workflow)
    assert [g.id for g in shares.items] == [s.shared_group]


def test_delete_group_removes_its_members_and_shares(anon: TorcClient) -> None:
    name = unique("doomed")
    group_id = id_of(create_group(anon, name))
    add_member(anon, group_id, "doomed-member")
    workflow_id = id_of(create_workflow(anon, user="doomed-owner", access_groups=[name]))
    assert anon.access.check_workflow_access(workflow_id, "doomed-member").has_access is True
    anon.access.delete_access_group(group_id)
    assert anon.access.list_user_groups("doomed-member").items == []
    assert anon.workflows.get_workflow(workflow_id).access_groups == []
    assert anon.access.list_workflow_groups(workflow_id).total_count == 0
    assert anon.access.check_workflow_access(workflow_id, "doomed-member").has_access is False
    reborn = id_of(create_group(anon, name))  # same name, new group: no stale rows
    assert reborn != group_id
    assert anon.access.list_group_members(reborn).items == []
    assert anon.access.check_workflow_access(workflow_id, "doomed-member").has_access is False


@pytest.mark.parametrize("user", ["a.b@example.com", "team/x", "with space", "per%cent"])
def test_user_names_need_path_encoding(any_mode: Deployment, user: str) -> None:
    """The client percent-encodes path parameters; the server decodes them back."""
    api = any_mode.admin
    group = create_group(api)
    workflow_id = id_of(create_workflow(api, user=api.user or "wf-user"))
    api.access.add_workflow_to_group(workflow_id, id_of(group))
    assert add_member(api, id_of(group), user).user_name == user
    assert group_names(api.access.list_user_groups(user)) == [group.name]
    check = api.access.check_workflow_access(workflow_id, user)
    assert (check.user_name, check.has_access) == (user, True)
    removed = api.access.remove_user_from_group(id_of(group), user)
    assert (removed.user_name, removed.group_id) == (user, group.id)
    assert api.access.list_user_groups(user).items == []


def test_reload_auth_without_auth_file(anon: TorcClient) -> None:
    reloaded = anon.access.reload_auth()
    assert (reloaded.message, reloaded.user_count) == ("Reloaded 0 users from htpasswd file", 0)


# -- authentication: 401 ---------------------------------------------------------------------

NEVER = "never-created"
EVERY_CALL: dict[str, Callable[[TorcClient, Scratch], object]] = {
    "ping": lambda api, s: api.system.ping(),
    "get_version": lambda api, s: api.system.get_version(),
    "create_workflow": lambda api, s: create_workflow(api, NEVER, user="alice"),
    "get_workflow": lambda api, s: api.workflows.get_workflow(s.workflow),
    "list_workflows": lambda api, s: api.workflows.list_workflows(),
    "delete_workflow": lambda api, s: api.workflows.delete_workflow(s.workflow),
    "create_access_group": lambda api, s: create_group(api, NEVER),
    "get_access_group": lambda api, s: api.access.get_access_group(s.group),
    "list_access_groups": lambda api, s: api.access.list_access_groups(),
    "delete_access_group": lambda api, s: api.access.delete_access_group(s.group),
    "add_user_to_group": lambda api, s: add_member(api, s.group, "mallory"),
    "remove_user_from_group": lambda api, s: api.access.remove_user_from_group(s.group, s.member),
    "list_group_members": lambda api, s: api.access.list_group_members(s.group),
    "list_user_groups": lambda api, s: api.access.list_user_groups(s.member),
    "add_workflow_to_group": lambda api, s: api.access.add_workflow_to_group(s.workflow, s.group),
    "remove_workflow_from_group": lambda api, s: api.access.remove_workflow_from_group(
        s.workflow, s.shared_group
    ),
    "list_workflow_groups": lambda api, s: api.access.list_workflow_groups(s.workflow),
    "check_workflow_access": lambda api, s: api.access.check_workflow_access(s.workflow, "alice"),
    "reload_auth": lambda api, s: api.access.reload_auth(),
}


def scratch_intact(deployment: Deployment) -> None:
    """Nothing a rejected request tried to do happened."""
    admin, s = deployment.admin, deployment.scratch
    assert admin.workflows.list_workflows(name=NEVER).total_count == 0
    assert NEVER not in group_names(admin.access.list_access_groups())
    assert admin.access.get_access_group(s.group).name == s.group_name
    members = admin.access.list_group_members(s.group).items
    assert [m.user_name for m in members] == [s.member]
    shares = admin.access.list_workflow_groups(s.workflow).items
    assert [g.id for g in shares] == [s.shared_group]


def expect_401(deployment: Deployment, api: TorcClient, call: str, message: str) -> None:
    scratch = deployment.scratch
    exc = expect_error(401, lambda: EVERY_CALL[call](api, scratch), message)
    assert exc.headers is not None and exc.headers["WWW-Authenticate"] == 'Basic realm="Torc"'
    scratch_intact(deployment)


@pytest.mark.parametrize("call", list(EVERY_CALL))
def test_every_call_without_credentials_is_401_when_auth_is_required(
    secured: Deployment, call: str
) -> None:
    expect_401(secured, connect(secured.server), call, "Anonymous access not allowed")


@pytest.mark.parametrize("call", list(EVERY_CALL))
def test_every_call_with_a_wrong_password_is_401(enforcing: Deployment, call: str) -> None:
    """Also without --require-auth: wrong credentials never fall back to anonymous."""
    api = connect(enforcing.server, "alice", password="bob_password")
    expect_401(enforcing, api, call, "Invalid user name or password")


@pytest.mark.parametrize("user", ["mallory", ""])
def test_unknown_or_empty_user_is_401(enforcing: Deployment, user: str) -> None:
    api = connect(enforcing.server, user, password="whatever")
    message = (
        "Invalid user name or password"
        if user
        else "Malformed Basic credentials: expected base64 of 'user:password'"
    )
    expect_401(enforcing, api, "list_workflows", message)


ANONYMOUS_FORBIDDEN: dict[str, tuple[Callable[[TorcClient, Scratch], object], str]] = {
    "create_access_group": (
        lambda api, s: create_group(api, NEVER),
        "Anonymous access not allowed for admin operations",
    ),
    "reload_auth": (
        lambda api, s: api.access.reload_auth(),
        "Anonymous access not allowed for admin operations",
    ),
    "add_user_to_group": (
        lambda api, s: add_member(api, s.group, "mallory"),
        "Anonymous access not allowed for group management",
    ),
    "add_workflow_to_group": (
        lambda api, s: api.access.add_workflow_to_group(s.workflow, s.group),
        "Anonymous access not allowed for workflow-group operations",
    ),
    "remove_user_from_group": (
        lambda api, s: api.access.remove_user_from_group(s.group, s.member),
        "Anonymous access not allowed for group management",
    ),
    "create_workflow": (
        lambda api, s: create_workflow(api, NEVER, user="alice"),
        "Anonymous access not allowed when access control is enabled",
    ),
    "get_workflow": (
        lambda api, s: api.workflows.get_workflow(s.workflow),
        "Anonymous access not allowed when access control is enabled",
    ),
    "list_workflows": (
        lambda api, s: api.workflows.list_workflows(),
        "Anonymous access not allowed when access control is enabled",
    ),
}


@pytest.mark.parametrize("case", list(ANONYMOUS_FORBIDDEN))
def test_anonymous_is_forbidden_when_auth_is_optional(
    deployments: Callable[[str], Deployment], case: str
) -> None:
    deployment = deployments("auth-optional")
    call, message = ANONYMOUS_FORBIDDEN[case]
    anonymous = deployment.as_user(None)
    assert anonymous.system.ping().status == "ok"  # anonymous gets in ...
    expect_error(403, lambda: call(anonymous, deployment.scratch), message)  # ... but no further
    scratch_intact(deployment)


# -- authorization: 403 ----------------------------------------------------------------------


def test_non_admin_cannot_create_or_delete_groups(enforcing: Deployment) -> None:
    bob = enforcing.as_user("bob")
    name = unique("bobs-group")
    expect_error(403, lambda: create_group(bob, name), "User 'bob' is not a system administrator")
    assert name not in group_names(enforcing.admin.access.list_access_groups())
    group = create_group(enforcing.admin)
    add_member(enforcing.admin, id_of(group), "bob", role="admin")  # even a group admin
    expect_error(
        403,
        lambda: bob.access.delete_access_group(id_of(group)),
        "User 'bob' is not a system administrator",
    )
    assert enforcing.admin.access.get_access_group(id_of(group)) == group
    expect_error(403, lambda: bob.access.reload_auth(), "User 'bob' is not a system administrator")


def test_carol_cannot_read_alices_workflow(enforcing: Deployment) -> None:
    alice, carol = enforcing.as_user("alice"), enforcing.as_user("carol")
    workflow = create_workflow(alice, user="alice", description="private")
    workflow_id = id_of(workflow)
    message = denied("carol", workflow_id)
    for call in (
        carol.workflows.get_workflow,
        carol.workflows.delete_workflow,
        carol.access.list_workflow_groups,
    ):
        expect_error(403, functools.partial(call, workflow_id), message)
    assert alice.workflows.get_workflow(workflow_id) == workflow  # not deleted
    every_filter: list[dict[str, Any]] = [{}, {"user": "alice"}, {"name": workflow.name}]
    for filters in every_filter:
        listed = carol.workflows.list_workflows(**filters)
        assert workflow_id not in [w.id for w in listed.items], filters
    assert alice.workflows.list_workflows(name=workflow.name).total_count == 1


def test_carol_cannot_share_alices_workflow(enforcing: Deployment) -> None:
    alice, carol = enforcing.as_user("alice"), enforcing.as_user("carol")
    group = create_group(alice)
    group_id = id_of(group)
    add_member(alice, group_id, "carol")  # a plain member of the group
    mine = create_workflow(alice, user="alice")
    shared = id_of(create_workflow(alice, user="alice", access_groups=[group.name]))
    no_share = (
        f"User 'carol' may not share workflow {mine.id}: only its owner, a system administrator "
        "or a holder of workflow.share on its name may share it"
    )
    no_unshare = (
        f"User 'carol' may not remove workflow {shared} from group {group_id}: only its owner, "
        "an admin of that group or a system administrator may"
    )
    expect_error(403, lambda: carol.access.add_workflow_to_group(id_of(mine), group_id), no_share)
    expect_error(403, lambda: carol.access.remove_workflow_from_group(shared, group_id), no_unshare)
    assert alice.access.list_workflow_groups(id_of(mine)).items == []
    assert group_names(alice.access.list_workflow_groups(shared)) == [group.name]
    expect_error(403, lambda: carol.workflows.get_workflow(id_of(mine)), denied("carol", mine.id))
    assert carol.workflows.get_workflow(shared).id == shared  # through the group


def test_a_group_admin_cannot_take_over_a_workflow_but_may_unshare_it(
    enforcing: Deployment,
) -> None:
    """Finding 1: carol, admin of `data`, has no rights on bob's workflow. Sharing it with her
    group would give her all of them, so it is refused and changes nothing; taking her group's
    access away again is safe, so she may."""
    alice, bob, carol = (enforcing.as_user(u) for u in ("alice", "bob", "carol"))
    data = id_of(create_group(alice, name=unique("data")))
    add_member(alice, data, "carol", role="admin")
    bobs = create_workflow(bob, user="bob")
    refusal = f"User 'carol' may not share workflow {bobs.id}"
    error = expect_error(403, lambda: carol.access.add_workflow_to_group(id_of(bobs), data))
    assert refusal in str(error.body)
    assert bob.access.list_workflow_groups(id_of(bobs)).items == []
    expect_error(403, lambda: carol.workflows.get_workflow(id_of(bobs)), denied("carol", bobs.id))
    # a system administrator may share it (and the audit log says so) ...
    assert alice.access.add_workflow_to_group(id_of(bobs), data).group_id == data
    assert carol.workflows.get_workflow(id_of(bobs)).id == bobs.id
    # ... and the group's admin may take the group's access away
    carol.access.remove_workflow_from_group(id_of(bobs), data)
    assert bob.access.list_workflow_groups(id_of(bobs)).items == []


def test_only_group_admins_manage_members(enforcing: Deployment) -> None:
    alice, dave, carol = (enforcing.as_user(u) for u in ("alice", "dave", "carol"))
    group_id = id_of(create_group(alice))
    add_member(alice, group_id, "dave", role="admin")
    added = add_member(dave, group_id, "carol")
    assert (added.user_name, added.role) == ("carol", "member")
    not_admin = f"User 'carol' is not an admin of group {group_id}"
    expect_error(403, lambda: add_member(carol, group_id, "outsider"), not_admin)
    expect_error(403, lambda: carol.access.remove_user_from_group(group_id, "dave"), not_admin)
    removed = dave.access.remove_user_from_group(group_id, "carol")
    assert removed.user_name == "carol"
    members = alice.access.list_group_members(group_id).items
    assert [(m.user_name, m.role) for m in members] == [("dave", "admin")]


def test_owner_is_the_caller_unless_an_admin_names_someone(enforcing: Deployment) -> None:
    carol = enforcing.as_user("carol")
    spoofed = create_workflow(carol, user="alice")
    assert spoofed.user == "carol"
    assert carol.workflows.get_workflow(id_of(spoofed)).user == "carol"
    expect_error(
        403,
        lambda: enforcing.as_user("alice").workflows.get_workflow(id_of(spoofed)),
        denied("alice", id_of(spoofed)),
    )  # a system administrator gets no silent access either
    on_behalf = create_workflow(enforcing.admin, user="owner_user")
    assert on_behalf.user == "owner_user"
    assert enforcing.as_user("owner_user").workflows.get_workflow(id_of(on_behalf)) == on_behalf


def test_workflow_list_is_filtered_to_what_the_caller_may_read(enforcing: Deployment) -> None:
    alice = enforcing.admin
    group = create_group(alice)
    add_member(alice, id_of(group), "dave")
    own = id_of(create_workflow(enforcing.as_user("dave")))
    shared = id_of(create_workflow(alice, user="owner_user", access_groups=[group.name]))
    hidden = id_of(create_workflow(alice, user="owner_user"))
    dave = enforcing.as_user("dave")
    listed = dave.workflows.list_workflows()
    ids = [id_of(w) for w in listed.items]
    assert own in ids and shared in ids and hidden not in ids
    assert listed.total_count == listed.count == len(ids)
    for workflow in listed.items:  # nothing leaks: every row is readable by dave
        assert alice.access.check_workflow_access(id_of(workflow), "dave").has_access is True
    by_owner = dave.workflows.list_workflows(user="owner_user")
    assert shared in [w.id for w in by_owner.items]
    assert hidden not in [w.id for w in by_owner.items]
    assert {w.user for w in by_owner.items} == {"owner_user"}


def test_non_admins_see_only_their_own_group_data(enforcing: Deployment) -> None:
    alice, carol = enforcing.admin, enforcing.as_user("carol")
    mine, other = create_group(alice), create_group(alice)
    add_member(alice, id_of(mine), "carol")
    assert carol.access.get_access_group(id_of(mine)) == mine
    assert [m.user_name for m in carol.access.list_group_members(id_of(mine)).items] == ["carol"]
    assert group_names(carol.access.list_user_groups("carol")) == group_names(
        alice.access.list_user_groups("carol")
    )
    carol_groups = {g.id for g in carol.access.list_access_groups().items}
    assert mine.id in carol_groups and other.id not in carol_groups
    not_member = f"User 'carol' is not a member of group {other.id}"
    expect_error(403, lambda: carol.access.get_access_group(id_of(other)), not_member)
    expect_error(403, lambda: carol.access.list_group_members(id_of(other)), not_member)
    expect_error(
        403,
        lambda: carol.access.list_user_groups("bob"),
        "User 'carol' may only list their own groups (system administrators may list anyone's)",
    )


def test_check_workflow_access_for_someone_else_needs_an_admin(enforcing: Deployment) -> None:
    workflow_id = id_of(create_workflow(enforcing.admin, user="owner_user"))
    carol = enforcing.as_user("carol")
    expect_error(
        403,
        lambda: carol.access.check_workflow_access(workflow_id, "owner_user"),
        "User 'carol' may only check their own access (system administrators may check anyone's)",
    )
    own = carol.access.check_workflow_access(workflow_id, "carol")
    assert (own.has_access, own.user_name, own.workflow_id, own.reason) == (
        False,
        "carol",
        workflow_id,
        NO_GRANT,
    )


# -- enforcement: Torc tests 17–24 -----------------------------------------------------------


@dataclass(frozen=True)
class Teams:
    ml: AccessGroupModel
    data: AccessGroupModel


def setup_two_teams(deployment: Deployment) -> Teams:
    """Torc's setup_two_teams: ml (alice, bob, shared_user) and data (carol, dave, shared_user)."""
    alice = deployment.admin
    ml = create_group(alice, unique("ml-team"), "Machine Learning Team")
    data = create_group(alice, unique("data-team"), "Data Processing Team")
    for group, users in ((ml, ("alice", "bob", "shared_user")), (data, ("carol", "dave"))):
        for user in users:
            add_member(alice, id_of(group), user)
    add_member(alice, id_of(data), "shared_user")
    return Teams(ml, data)


def assert_access(deployment: Deployment, workflow_id: int, expected: Mapping[str, str]) -> None:
    """check_workflow_access (asked by alice) gives each user the expected reason, and
    get_workflow as that user agrees: 200 when allowed, 403 when not."""
    for user, reason in expected.items():
        check = deployment.admin.access.check_workflow_access(workflow_id, user)
        allowed = reason != NO_GRANT
        assert (check.user_name, check.workflow_id) == (user, workflow_id)
        assert (check.has_access, check.reason) == (allowed, reason), user
        get = functools.partial(deployment.as_user(user).workflows.get_workflow, workflow_id)
        if allowed:
            assert get().id == workflow_id
        else:
            expect_error(403, get, denied(user, workflow_id))


def share(deployment: Deployment, workflow_id: int, *groups: AccessGroupModel) -> None:
    for group in groups:
        result = deployment.admin.access.add_workflow_to_group(workflow_id, id_of(group))
        assert (result.workflow_id, result.group_id) == (workflow_id, group.id)


def via(group: AccessGroupModel) -> str:
    return f"group '{group.name}' (write)"


def test_enforcement_owner_can_access_own_workflow(enforcing: Deployment) -> None:
    """Torc 17."""
    workflow_id = id_of(create_workflow(enforcing.admin, user="owner_user"))
    assert_access(enforcing, workflow_id, {"owner_user": "owner"})


def test_enforcement_non_member_cannot_access_workflow(enforcing: Deployment) -> None:
    """Torc 18."""
    workflow_id = id_of(create_workflow(enforcing.admin, user="owner_user"))
    assert_access(enforcing, workflow_id, {"outsider": NO_GRANT, "alice": NO_GRANT})


def test_enforcement_team_member_can_access_shared_workflow(enforcing: Deployment) -> None:
    """Torc 19."""
    teams = setup_two_teams(enforcing)
    workflow_id = id_of(create_workflow(enforcing.admin, user="owner_user"))
    assert_access(enforcing, workflow_id, {"alice": NO_GRANT, "bob": NO_GRANT})
    share(enforcing, workflow_id, teams.ml)
    expected = {"alice": via(teams.ml), "bob": via(teams.ml), "carol": NO_GRANT}
    assert_access(enforcing, workflow_id, expected)


def test_enforcement_multi_team_member_can_access_both_team_workflows(
    enforcing: Deployment,
) -> None:
    """Torc 20 (and 27: the same through get_workflow)."""
    teams = setup_two_teams(enforcing)
    ml_workflow = id_of(create_workflow(enforcing.admin, user="owner_user"))
    data_workflow = id_of(create_workflow(enforcing.admin, user="owner_user"))
    share(enforcing, ml_workflow, teams.ml)
    share(enforcing, data_workflow, teams.data)
    ml, data = via(teams.ml), via(teams.data)
    assert_access(enforcing, ml_workflow, {"shared_user": ml, "alice": ml, "carol": NO_GRANT})
    assert_access(enforcing, data_workflow, {"shared_user": data, "alice": NO_GRANT, "carol": data})


def test_enforcement_revoke_access_removes_permission(enforcing: Deployment) -> None:
    """Torc 21."""
    teams = setup_two_teams(enforcing)
    workflow_id = id_of(create_workflow(enforcing.admin, user="owner_user"))
    share(enforcing, workflow_id, teams.ml)
    assert_access(enforcing, workflow_id, {"alice": via(teams.ml)})
    removed = enforcing.admin.access.remove_workflow_from_group(workflow_id, id_of(teams.ml))
    assert (removed.workflow_id, removed.group_id) == (workflow_id, teams.ml.id)
    assert_access(enforcing, workflow_id, {"alice": NO_GRANT, "bob": NO_GRANT})


def test_enforcement_workflow_shared_with_multiple_groups(enforcing: Deployment) -> None:
    """Torc 22."""
    teams = setup_two_teams(enforcing)
    workflow_id = id_of(create_workflow(enforcing.admin, user="owner_user"))
    share(enforcing, workflow_id, teams.ml, teams.data)
    ml, data = via(teams.ml), via(teams.data)
    expected = {
        "alice": ml,
        "bob": ml,
        "carol": data,
        "dave": data,
        "shared_user": ml,  # the first of its groups (by id) decides
        "outsider": NO_GRANT,
        "owner_user": "owner",
    }
    assert_access(enforcing, workflow_id, expected)
    groups = enforcing.admin.access.list_workflow_groups(workflow_id)
    assert group_names(groups) == [teams.ml.name, teams.data.name]


def test_enforcement_remove_user_from_group_revokes_access(enforcing: Deployment) -> None:
    """Torc 23: takes effect on the next request, although the credentials are cached."""
    teams = setup_two_teams(enforcing)
    add_member(enforcing.admin, id_of(teams.ml), "removable_user")
    workflow_id = id_of(create_workflow(enforcing.admin, user="owner_user"))
    share(enforcing, workflow_id, teams.ml)
    assert_access(enforcing, workflow_id, {"removable_user": via(teams.ml)})
    removed = enforcing.admin.access.remove_user_from_group(id_of(teams.ml), "removable_user")
    assert (removed.user_name, removed.group_id) == ("removable_user", teams.ml.id)
    assert_access(enforcing, workflow_id, {"removable_user": NO_GRANT, "bob": via(teams.ml)})


def test_get_workflow_returns_error_for_unauthorized_user(enforcing: Deployment) -> None:
    """Torc 24: alice creates a workflow for "owner_user"; someone else gets 403."""
    created = create_workflow(enforcing.admin, user="owner_user")
    workflow_id = id_of(created)
    unauthorized = enforcing.as_user("unauthorized_user")
    expect_error(
        403,
        lambda: unauthorized.workflows.get_workflow(workflow_id),
        denied("unauthorized_user", workflow_id),
    )
    assert enforcing.as_user("owner_user").workflows.get_workflow(workflow_id) == created


# -- reload_auth -----------------------------------------------------------------------------


def test_reload_auth_picks_up_added_and_removed_users(secured_app: App) -> None:
    htpasswd = auth_file_of(secured_app)
    alice, bob = connect(secured_app, "alice"), connect(secured_app, "bob")
    reloaded = alice.access.reload_auth()
    assert (reloaded.message, reloaded.user_count) == ("Reloaded 4 users from htpasswd file", 4)
    expect_error(403, bob.access.reload_auth, "User 'bob' is not a system administrator")
    erin = connect(secured_app, "erin")
    expect_error(401, erin.system.ping, "Invalid user name or password")

    write_htpasswd(htpasswd, ("alice", "carol", "dave", "erin"))
    reloaded = alice.access.reload_auth()
    assert (reloaded.message, reloaded.user_count) == ("Reloaded 4 users from htpasswd file", 4)
    assert erin.system.ping().status == "ok"
    assert erin.workflows.list_workflows().total_count == 0
    # bob's credentials were verified (and cached) above; the reload must forget them.
    expect_error(401, bob.system.ping, "Invalid user name or password")


def auth_file_of(app: App) -> Path:
    assert app.settings.auth_file is not None
    return Path(app.settings.auth_file)


def _break_htpasswd(htpasswd: Path) -> int:
    """Append a line with a plain-text password; return its line number."""
    lines = htpasswd.read_text().splitlines()
    htpasswd.write_text("\n".join([*lines, "erin:plaintext"]) + "\n")
    return len(lines) + 1


def test_failed_reload_keeps_the_previous_users(secured_app: App) -> None:
    htpasswd = auth_file_of(secured_app)
    alice, bob = connect(secured_app, "alice"), connect(secured_app, "bob")
    line = _break_htpasswd(htpasswd)
    with pytest.raises(ApiException) as info:
        alice.access.reload_auth()
    body = error_body(info.value)
    assert body["message"].startswith(f"{htpasswd} line {line}: ")
    assert "erin" in body["message"] and "bcrypt" in body["message"]
    assert bob.system.ping().status == "ok"
    expect_error(401, connect(secured_app, "erin", password="plaintext").system.ping)


def test_failed_reload_is_not_a_server_error(secured_app: App) -> None:
    """SPEC §6: no request produces a 500; a broken auth file is not the server crashing."""
    alice = connect(secured_app, "alice")
    _break_htpasswd(auth_file_of(secured_app))
    with pytest.raises(ApiException) as info:
        alice.access.reload_auth()
    assert 400 <= info.value.status < 500, (info.value.status, info.value.body)
