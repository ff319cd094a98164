"""The published Python client (torc-client 0.35.0) over a real socket, with its own urllib3
pool, against a real server process: the tutorial's server, as a job runner's script would call
it. tests/api/test_torc_client.py covers every call in process."""

from __future__ import annotations

import json

import pytest
from torc.openapi_client import (
    AccessControlApi,
    AccessGroupModel,
    ApiClient,
    Configuration,
    SystemApi,
    UserGroupMembershipModel,
    WorkflowModel,
    WorkflowsApi,
)
from torc.openapi_client.exceptions import ForbiddenException, UnauthorizedException

from teamgate import __version__
from tests.conftest import Server, password_of


def client(server: Server, user: str, password: str | None = None) -> ApiClient:
    config = Configuration(host=server.torc_url)
    config.username, config.password = user, password or password_of(user)
    api_client = ApiClient(config)
    # torc-client sends no credentials unless the header is set by hand.
    api_client.set_default_header(  # type: ignore[no-untyped-call]
        "Authorization", config.get_basic_auth_token()
    )
    return api_client


def test_the_tutorial_through_the_stock_client(secured_server: Server) -> None:
    alice, bob, carol = (client(secured_server, u) for u in ("alice", "bob", "carol"))
    assert SystemApi(alice).ping().status == "ok"
    assert SystemApi(bob).get_version().version == __version__

    workflow = WorkflowsApi(alice).create_workflow(WorkflowModel(name="ml_training", user="alice"))
    assert workflow.id is not None
    group = AccessControlApi(alice).create_access_group(AccessGroupModel(name="ml-team"))
    assert group.id is not None
    membership = UserGroupMembershipModel(user_name="bob", group_id=group.id, role="member")
    AccessControlApi(alice).add_user_to_group(group.id, membership)

    with pytest.raises(ForbiddenException) as refused:
        WorkflowsApi(bob).get_workflow(workflow.id)
    assert json.loads(refused.value.body)["error"] == "Forbidden"
    AccessControlApi(alice).add_workflow_to_group(workflow.id, group.id)
    assert WorkflowsApi(bob).get_workflow(workflow.id).name == "ml_training"
    check = AccessControlApi(alice).check_workflow_access(workflow.id, "carol")
    assert check.has_access is False
    with pytest.raises(ForbiddenException):
        WorkflowsApi(carol).get_workflow(workflow.id)


def test_a_wrong_password_is_401_over_the_socket(secured_server: Server) -> None:
    with pytest.raises(UnauthorizedException) as refused:
        SystemApi(client(secured_server, "bob", "wrong")).ping()
    assert refused.value.headers["WWW-Authenticate"] == 'Basic realm="Torc"'
