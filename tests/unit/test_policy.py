"""decide(): the one access decision, as a table of cases."""

from __future__ import annotations

import pytest

from teamgate.domain.identity import Principal
from teamgate.domain.policy import (
    ADMIN,
    GROUP_MEMBERS,
    SHARE,
    Facts,
    Grant,
    Resource,
    RuleSet,
    decide,
    explain,
)
from teamgate.domain.rules import parse_rule

WF = Resource(
    kind="workflow", id="1", name="alice/train", owner="alice", shared_with=frozenset({2})
)
UNIT = Resource(kind="unit", id="dev/a", name="dev/a", owner="alice")
carol = Principal("carol")
alice = Principal("alice")
admin = Principal("root", is_admin=True)
anon = Principal(None)


def rules(*specs: tuple[str, str, str]) -> RuleSet:
    return RuleSet(Grant(parse_rule(r), permission=p, role=role) for r, p, role in specs)


DATA_TEAM = Facts(groups={2: "data-team"})


@pytest.mark.parametrize(
    ("principal", "action", "resource", "facts", "allowed", "reason"),
    [
        (alice, "workflow.read", WF, Facts(), True, "owner"),
        (carol, "workflow.read", WF, Facts(), False, "no matching grant"),
        (carol, "workflow.read", WF, DATA_TEAM, True, "group 'data-team'"),
        (carol, "workflow.delete", WF, Facts(groups={3: "ml-team"}), False, "no matching grant"),
        (anon, "workflow.read", WF, Facts(), False, "anonymous"),
        # system administrators do not silently read other users' workflows
        (admin, "workflow.read", WF, Facts(), False, "no matching grant"),
        (
            carol,
            "unit.read",
            UNIT,
            Facts(rules=rules(("allow:unit.read:dev/*", "dev-access", "developer"))),
            True,
            "rule allow:unit.read:dev/* of permission 'dev-access' via role 'developer'",
        ),
        # deny beats ownership and any allow, from whichever role it comes
        (
            alice,
            "unit.read",
            UNIT,
            Facts(rules=rules(("deny:unit.read:dev/*", "no-dev", "auditor"))),
            False,
            "explicit deny by rule deny:unit.read:dev/* of permission 'no-dev' via role 'auditor'",
        ),
        (
            carol,
            "workflow.read",
            WF,
            Facts(
                groups={2: "data-team"},
                rules=rules(
                    ("allow:*:*", "all", "admin"), ("deny:workflow.read:alice/*", "x", "other")
                ),
            ),
            False,
            "explicit deny by rule deny:workflow.read:alice/* of permission 'x' via role 'other'",
        ),
        (
            carol,
            "unit.write",
            UNIT,
            Facts(rules=rules(("allow:unit.read:dev/*", "r", "reader"))),
            False,
            "no matching grant",
        ),
    ],
)
def test_resource_decisions(
    principal: Principal,
    action: str,
    resource: Resource,
    facts: Facts,
    allowed: bool,
    reason: str,
) -> None:
    decision = decide(principal, action, resource, facts=facts, enforce=True)
    assert decision.allowed is allowed
    assert decision.reason == reason
    if not allowed:
        assert decision.message


def test_denied_message_matches_the_tutorial() -> None:
    decision = decide(carol, "workflow.read", WF, enforce=True)
    assert decision.message == "User 'carol' does not have access to workflow 1"


def test_everything_is_allowed_when_access_control_is_off() -> None:
    for principal in (anon, carol):
        assert decide(principal, "workflow.delete", WF, enforce=False).allowed
        assert decide(principal, ADMIN, enforce=False).allowed


@pytest.mark.parametrize(
    ("principal", "facts", "allowed", "message"),
    [
        (admin, Facts(), True, ""),
        (carol, Facts(), False, "User 'carol' is not a system administrator"),
        (anon, Facts(), False, "Anonymous access not allowed for admin operations"),
    ],
)
def test_admin_actions(principal: Principal, facts: Facts, allowed: bool, message: str) -> None:
    decision = decide(principal, ADMIN, facts=facts, enforce=True)
    assert (decision.allowed, decision.message) == (allowed, message)


@pytest.mark.parametrize(
    ("principal", "facts", "allowed"),
    [
        (admin, Facts(), True),
        (carol, Facts(groups={2: "data-team"}, admin_of=frozenset({2})), True),
        (carol, Facts(groups={2: "data-team"}), False),  # a plain member
        (carol, Facts(groups={3: "x"}, admin_of=frozenset({3})), False),  # admin elsewhere
        (anon, Facts(), False),
    ],
)
def test_group_membership_management(principal: Principal, facts: Facts, allowed: bool) -> None:
    decision = decide(principal, GROUP_MEMBERS, facts=facts, enforce=True, group=2)
    assert decision.allowed is allowed


@pytest.mark.parametrize(
    ("principal", "facts", "allowed"),
    [
        (alice, Facts(), True),  # owner shares with any group
        (admin, Facts(), True),
        (carol, Facts(groups={2: "data-team"}, admin_of=frozenset({2})), True),
        (carol, DATA_TEAM, False),  # reading access does not allow re-sharing
        (alice, Facts(rules=rules(("deny:workflow.share:*", "no-share", "r"))), False),
    ],
)
def test_sharing(principal: Principal, facts: Facts, allowed: bool) -> None:
    assert decide(principal, SHARE, WF, facts=facts, enforce=True, group=2).allowed is allowed


def test_explain_walks_every_check_and_agrees_with_decide() -> None:
    facts = Facts(
        groups={2: "data-team"},
        rules=rules(
            ("allow:workflow.read:alice/*", "read-alice", "reader"),
            ("allow:*:*/train", "train", "trainer"),
            ("deny:workflow.delete:*", "no-delete", "auditor"),
        ),
    )
    found = explain(carol, "workflow.read", WF, facts=facts, enforce=True)
    assert found.decision == decide(carol, "workflow.read", WF, facts=facts, enforce=True)
    assert found.decision.reason == "group 'data-team'"
    steps = {s.check: s for s in found.steps}
    assert list(steps) == [
        "access control",
        "caller",
        "deny rules",
        "owner",
        "groups",
        "allow rules",
    ]
    assert steps["owner"].detail == "owned by alice" and not steps["owner"].matched
    assert steps["groups"].matched and "'data-team' (2)" in steps["groups"].detail
    # every matching allow rule is listed, not only the first
    assert "read-alice" in steps["allow rules"].detail
    assert "train" in steps["allow rules"].detail
    assert not steps["deny rules"].matched

    denied = explain(carol, "workflow.delete", WF, facts=facts, enforce=True)
    assert not denied.decision.allowed
    assert "no-delete" in {s.check: s for s in denied.steps}["deny rules"].detail


def test_explain_stops_early_when_off_or_anonymous() -> None:
    off = explain(anon, "workflow.read", WF, enforce=False)
    assert off.decision.allowed and [s.check for s in off.steps] == ["access control"]
    anonymous = explain(anon, "workflow.read", WF, enforce=True)
    assert not anonymous.decision.allowed
    assert [s.check for s in anonymous.steps] == ["access control", "caller"]


def test_a_unit_share_is_named_unit_share_in_its_decision() -> None:
    """Units are shared under the workflow.share rule action, but audit records and metrics
    name the decision after what it was about."""
    refused = decide(carol, SHARE, UNIT, facts=Facts(), enforce=True, group=1)
    assert (refused.allowed, refused.action, refused.resource) == (
        False,
        "unit.share",
        "unit/dev/a",
    )
    allowed = decide(alice, SHARE, UNIT, facts=Facts(), enforce=True, group=1)
    assert (allowed.allowed, allowed.action) == (True, "unit.share")
    assert decide(alice, SHARE, WF, facts=Facts(), enforce=True, group=1).action == SHARE
