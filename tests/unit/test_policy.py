"""decide(): the one access decision, as a table of cases."""

from __future__ import annotations

from functools import partial

import pytest

from teamgate.domain.actions import RULE_ACTIONS, Action, DecidedBy
from teamgate.domain.explanations import explain
from teamgate.domain.identity import Principal
from teamgate.domain.policy import (
    ADMIN,
    GROUP_MEMBERS,
    Facts,
    Grant,
    Resource,
    RuleSet,
    decide,
    user_resource,
)
from teamgate.domain.rules import ACTIONS, parse_rule

WF = Resource(kind="workflow", id="1", name="alice/train", owner="alice", shared_with={2: "write"})
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
        (carol, "workflow.read", WF, DATA_TEAM, True, "group 'data-team' (write)"),
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


BOBS_WF = Resource(kind="workflow", id="7", name="bob/etl", owner="bob")
BOBS_UNIT = Resource(kind="unit", id="prod/db", name="prod/db", owner="bob")
DATA_ADMIN = Facts(groups={2: "data"}, admin_of=frozenset({2}))  # carol, admin of group 2
SHARE_RULE = ("allow:workflow.share:bob/*", "share-bob", "sharer")
UNIT_SHARE_RULE = ("allow:unit.share:prod/*", "share-prod", "sharer")
WF_SHARE_FOR_UNITS = ("allow:workflow.share:prod/*", "old-style", "sharer")
SHARE, UNSHARE = Action.WORKFLOW_SHARE, Action.WORKFLOW_UNSHARE
U_SHARE, U_UNSHARE = Action.UNIT_SHARE, Action.UNIT_UNSHARE


@pytest.mark.parametrize(
    ("principal", "action", "resource", "facts", "decided_by"),
    [
        # owners share and unshare their own
        (Principal("bob"), SHARE, BOBS_WF, Facts(), DecidedBy.OWNER),
        (Principal("bob"), U_UNSHARE, BOBS_UNIT, Facts(), DecidedBy.OWNER),
        # a group's admin has no right over what they do not control ...
        (carol, SHARE, BOBS_WF, DATA_ADMIN, DecidedBy.NO_GRANT),
        (carol, U_SHARE, BOBS_UNIT, DATA_ADMIN, DecidedBy.NO_GRANT),
        # ... but may take their group's access away again
        (carol, UNSHARE, BOBS_WF, DATA_ADMIN, DecidedBy.GROUP_ADMIN),
        (carol, U_UNSHARE, BOBS_UNIT, DATA_ADMIN, DecidedBy.GROUP_ADMIN),
        # (not from another group: admin of group 3 only)
        (carol, UNSHARE, BOBS_WF, Facts(admin_of=frozenset({3})), DecidedBy.NO_GRANT),
        # a member who can read it may not pass it on
        (carol, SHARE, BOBS_WF, Facts(groups={2: "data"}), DecidedBy.NO_GRANT),
        # system administrators may, and the record says so
        (admin, SHARE, BOBS_WF, Facts(), DecidedBy.ADMIN),
        (admin, U_SHARE, BOBS_UNIT, Facts(), DecidedBy.ADMIN),
        (admin, U_UNSHARE, BOBS_UNIT, Facts(), DecidedBy.ADMIN),
        # an RBAC allow for the share action on the name
        (carol, SHARE, BOBS_WF, Facts(rules=rules(SHARE_RULE)), DecidedBy.RULE),
        (carol, UNSHARE, BOBS_WF, Facts(rules=rules(SHARE_RULE)), DecidedBy.RULE),
        (carol, U_SHARE, BOBS_UNIT, Facts(rules=rules(UNIT_SHARE_RULE)), DecidedBy.RULE),
        # units still accept workflow.share rules, as before unit.share existed
        (carol, U_SHARE, BOBS_UNIT, Facts(rules=rules(WF_SHARE_FOR_UNITS)), DecidedBy.RULE),
        # a unit.share rule does not share workflows; other names are not covered
        (carol, SHARE, BOBS_WF, Facts(rules=rules(("allow:unit.share:*", "u", "r"))), "no"),
        (carol, SHARE, WF, Facts(rules=rules(SHARE_RULE)), DecidedBy.NO_GRANT),
        # reading rights do not share
        (carol, SHARE, BOBS_WF, Facts(rules=rules(("allow:workflow.read:*", "r", "r"))), "no"),
        # deny wins over ownership, rules, group admin and administrators
        (
            Principal("bob"),
            SHARE,
            BOBS_WF,
            Facts(rules=rules(("deny:workflow.share:*", "no-share", "r"))),
            DecidedBy.DENY_RULE,
        ),
        (
            carol,
            U_SHARE,
            BOBS_UNIT,
            Facts(rules=rules(UNIT_SHARE_RULE, ("deny:workflow.share:prod/db", "x", "y"))),
            DecidedBy.DENY_RULE,
        ),
        (
            carol,
            UNSHARE,
            BOBS_WF,
            Facts(groups={2: "d"}, admin_of=frozenset({2}), rules=rules(("deny:*:*", "x", "y"))),
            DecidedBy.DENY_RULE,
        ),
        (
            Principal("root", is_admin=True),
            SHARE,
            BOBS_WF,
            Facts(rules=rules(("deny:workflow.share:*", "x", "y"))),
            DecidedBy.DENY_RULE,
        ),
        (anon, SHARE, BOBS_WF, Facts(), DecidedBy.ANONYMOUS),
        (anon, U_UNSHARE, BOBS_UNIT, Facts(), DecidedBy.ANONYMOUS),
    ],
)
def test_sharing_needs_the_right_to_share_that_resource(
    principal: Principal,
    action: Action,
    resource: Resource,
    facts: Facts,
    decided_by: DecidedBy | str,
) -> None:
    decided_by = DecidedBy.NO_GRANT if decided_by == "no" else decided_by
    decision = decide(principal, action, resource, facts=facts, enforce=True, group=2)
    assert decision.decided_by is decided_by, decision
    allowed = decided_by in (
        DecidedBy.OWNER,
        DecidedBy.GROUP_ADMIN,
        DecidedBy.ADMIN,
        DecidedBy.RULE,
    )
    assert decision.allowed is allowed
    assert decision.action == action
    if decided_by is DecidedBy.ADMIN:
        assert decision.reason == "system administrator"  # what the audit record keeps
    if not allowed:
        assert decision.resource == f"{resource.kind}/{resource.id}"
        assert decision.message.startswith(f"User '{principal.display}'") or principal.name is None


def test_refusals_to_share_say_who_may() -> None:
    refused = decide(carol, SHARE, BOBS_WF, facts=DATA_ADMIN, enforce=True, group=2)
    assert refused.message == (
        "User 'carol' may not share workflow 7: only its owner, a system administrator or a "
        "holder of workflow.share on its name may share it"
    )
    refused = decide(carol, U_SHARE, BOBS_UNIT, facts=DATA_ADMIN, enforce=True, group=2)
    assert "may not share unit 'prod/db'" in refused.message and "unit.share" in refused.message
    refused = decide(carol, UNSHARE, BOBS_WF, facts=Facts(), enforce=True, group=2)
    assert refused.message == (
        "User 'carol' may not remove workflow 7 from group 2: only its owner, an admin of that "
        "group or a system administrator may"
    )


NEW = Resource(kind="unit", id="dev/payments", name="dev/payments", new=True)
FRANK = rules(("allow:unit.read,unit.write,unit.lock:dev/*", "dev", "developer"))


@pytest.mark.parametrize(
    ("facts", "decided_by"),
    [
        # before `rbac init` anyone may create a unit (and will own it) ...
        (Facts(), DecidedBy.CREATOR),
        (Facts(rules=FRANK), DecidedBy.CREATOR),
        # ... except where a deny rule says otherwise
        (Facts(rules=rules(("deny:unit.write:dev/*", "x", "y"))), DecidedBy.DENY_RULE),
        # afterwards, creating needs unit.write on the path
        (Facts(rbac_initialized=True), DecidedBy.NO_GRANT),
        (Facts(rbac_initialized=True, rules=FRANK), DecidedBy.RULE),
        (
            Facts(rbac_initialized=True, rules=rules(("allow:unit.read:*", "r", "r"))),
            DecidedBy.NO_GRANT,
        ),
        (
            Facts(rbac_initialized=True, rules=rules(("allow:unit.write:prod/*", "p", "r"))),
            DecidedBy.NO_GRANT,
        ),
    ],
)
def test_creating_a_unit(facts: Facts, decided_by: DecidedBy) -> None:
    decision = decide(Principal("mallory"), "unit.write", NEW, facts=facts, enforce=True)
    assert decision.decided_by is decided_by
    assert decision.allowed is (decided_by in (DecidedBy.CREATOR, DecidedBy.RULE))


def test_a_refused_creation_says_what_is_needed() -> None:
    facts = Facts(rbac_initialized=True)
    decision = decide(Principal("mallory"), "unit.write", NEW, facts=facts, enforce=True)
    assert decision.message == (
        "User 'mallory' may not create unit 'dev/payments': creating a unit needs unit.write on "
        "its path; ask an RBAC administrator for a permission"
    )
    assert decision.resource == "unit/dev/payments"
    # only creation is open before init: other actions on a missing unit are not
    assert not decide(Principal("mallory"), "unit.read", NEW, facts=Facts(), enforce=True)
    assert decide(anon, "unit.write", NEW, enforce=True).decided_by is DecidedBy.ANONYMOUS
    assert decide(anon, "unit.write", NEW, enforce=False).decided_by is DecidedBy.DISABLED


bob = Principal("bob")


def only_own(user: str, verb: str, what: str) -> str:
    admins = f"system administrators may {verb} anyone's"
    return f"User '{user}' may only {verb} their own {what} ({admins})"


GROUP_2 = Facts(groups={2: "data"})


@pytest.mark.parametrize(
    ("principal", "action", "resource", "facts", "group", "decided_by", "message"),
    [
        (
            carol,
            Action.SYSTEM_ADMIN,
            None,
            Facts(),
            None,
            DecidedBy.NOT_ADMIN,
            "User 'carol' is not a system administrator",
        ),
        (
            carol,
            Action.AUTH_RELOAD,
            None,
            Facts(),
            None,
            DecidedBy.NOT_ADMIN,
            "User 'carol' is not a system administrator",
        ),
        (admin, Action.AUTH_RELOAD, None, Facts(), None, DecidedBy.ADMIN, ""),
        (
            carol,
            Action.GROUP_CREATE,
            None,
            Facts(),
            None,
            DecidedBy.NOT_ADMIN,
            "User 'carol' is not a system administrator",
        ),
        (
            anon,
            Action.GROUP_DELETE,
            None,
            Facts(),
            None,
            DecidedBy.ANONYMOUS,
            "Anonymous access not allowed for admin operations",
        ),
        # group.read: one group's members and administrators; a list: anyone signed in
        (carol, Action.GROUP_READ, None, GROUP_2, 2, DecidedBy.MEMBER, ""),
        (
            carol,
            Action.GROUP_READ,
            None,
            GROUP_2,
            3,
            DecidedBy.NOT_MEMBER,
            "User 'carol' is not a member of group 3",
        ),
        (admin, Action.GROUP_READ, None, Facts(), 3, DecidedBy.ADMIN, ""),
        (carol, Action.GROUP_READ, None, Facts(), None, DecidedBy.SELF, ""),
        (
            anon,
            Action.GROUP_READ,
            None,
            Facts(),
            None,
            DecidedBy.ANONYMOUS,
            "Anonymous access not allowed when access control is enabled",
        ),
        (
            anon,
            Action.GROUP_READ,
            None,
            Facts(),
            2,
            DecidedBy.ANONYMOUS,
            "Anonymous access not allowed when access control is enabled",
        ),
        # questions about one user: that user, or a system administrator
        (bob, Action.USER_GROUPS, user_resource("bob"), Facts(), None, DecidedBy.SELF, ""),
        (
            carol,
            Action.USER_GROUPS,
            user_resource("bob"),
            Facts(),
            None,
            DecidedBy.NOT_SELF,
            only_own("carol", "list", "groups"),
        ),
        (admin, Action.USER_GROUPS, user_resource("bob"), Facts(), None, DecidedBy.ADMIN, ""),
        (
            carol,
            Action.ACCESS_CHECK,
            user_resource("bob"),
            Facts(),
            None,
            DecidedBy.NOT_SELF,
            only_own("carol", "check", "access"),
        ),
        (
            carol,
            Action.ACCESS_EXPLAIN,
            user_resource("bob"),
            Facts(),
            None,
            DecidedBy.NOT_SELF,
            only_own("carol", "explain", "access"),
        ),
        (
            anon,
            Action.ACCESS_EXPLAIN,
            user_resource("carol"),
            Facts(),
            None,
            DecidedBy.ANONYMOUS,
            only_own("anonymous", "explain", "access"),
        ),
        # who shares a workflow: whoever reads it, and administrators (who manage sharing)
        (admin, Action.WORKFLOW_SHARES, WF, Facts(), None, DecidedBy.ADMIN, ""),
        (carol, Action.WORKFLOW_SHARES, WF, DATA_TEAM, None, DecidedBy.GROUP, ""),
        (
            carol,
            Action.WORKFLOW_SHARES,
            WF,
            Facts(),
            None,
            DecidedBy.NO_GRANT,
            "User 'carol' does not have access to workflow 1",
        ),
        # group members: that group's admins
        (
            carol,
            Action.GROUP_MEMBERS,
            None,
            Facts(admin_of=frozenset({2})),
            2,
            DecidedBy.GROUP_ADMIN,
            "",
        ),
        (
            carol,
            Action.GROUP_MEMBERS,
            None,
            GROUP_2,
            2,
            DecidedBy.NOT_GROUP_ADMIN,
            "User 'carol' is not an admin of group 2",
        ),
    ],
)
def test_administrative_decisions(
    principal: Principal,
    action: Action,
    resource: Resource | None,
    facts: Facts,
    group: int | None,
    decided_by: DecidedBy,
    message: str,
) -> None:
    decision = decide(principal, action, resource, facts=facts, enforce=True, group=group)
    assert (decision.decided_by, decision.message) == (decided_by, message)
    assert decision.allowed is (message == "")
    assert decision.action == action
    # with access control off, every one of them is allowed
    off = decide(principal, action, resource, facts=facts, enforce=False, group=group)
    assert (off.allowed, off.decided_by) == (True, DecidedBy.DISABLED)


@pytest.mark.parametrize(
    ("principal", "admins_configured", "decided_by", "message"),
    [
        (admin, True, DecidedBy.ADMIN, ""),
        (carol, True, DecidedBy.NOT_ADMIN, "User 'carol' is not a system administrator"),
        (carol, False, DecidedBy.FIRST_CALLER, ""),
        (
            anon,
            False,
            DecidedBy.ANONYMOUS,
            "Sign in first: RBAC init makes the caller its administrator",
        ),
    ],
)
@pytest.mark.parametrize("enforce", [True, False])  # decided the same either way
def test_rbac_init(
    principal: Principal,
    admins_configured: bool,
    decided_by: DecidedBy,
    message: str,
    enforce: bool,
) -> None:
    facts = Facts(admins_configured=admins_configured)
    decision = decide(principal, Action.RBAC_INIT, facts=facts, enforce=enforce)
    assert (decision.allowed, decision.decided_by, decision.message) == (
        message == "",
        decided_by,
        message,
    )


@pytest.mark.parametrize("enforce", [True, False])  # decided the same either way
def test_a_users_tokens_are_revoked_by_that_user_or_an_administrator(enforce: bool) -> None:
    bobs = user_resource("bob")
    revoke = partial(decide, action=Action.TOKEN_REVOKE, resource=bobs, enforce=enforce)
    assert revoke(bob).decided_by is DecidedBy.SELF
    assert revoke(admin).decided_by is DecidedBy.ADMIN
    refused = revoke(carol)
    assert (refused.allowed, refused.decided_by, refused.message) == (
        False,
        DecidedBy.NOT_SELF,
        only_own("carol", "revoke", "tokens"),
    )
    assert revoke(anon).decided_by is DecidedBy.ANONYMOUS


@pytest.mark.parametrize("enforce", [True, False])  # decided the same either way
def test_tokens_are_issued_against_a_password_only(enforce: bool) -> None:
    password = Principal("bob", method="password", credential="fp")
    token = Principal("bob", method="token", token_id=3, credential="fp")
    allowed = decide(password, Action.TOKEN_CREATE, enforce=enforce)
    assert (allowed.allowed, allowed.decided_by, allowed.reason) == (
        True,
        DecidedBy.SELF,
        "own token",
    )
    oidc = Principal("bob@example.com", method="oidc", credential="fp", idp="https://idp")
    assert decide(oidc, Action.TOKEN_CREATE, enforce=enforce).allowed  # an IdP sign-in too
    refused = decide(token, Action.TOKEN_CREATE, enforce=enforce)
    assert (refused.allowed, refused.decided_by, refused.reason, refused.message) == (
        False,
        DecidedBy.TOKEN,
        "signed in with a token",
        "Tokens are issued against a password or an identity provider's sign-in, not another token",
    )


def test_one_vocabulary() -> None:
    """Rules may name the rule actions only; every decision names a member of Action."""
    assert {a.value for a in RULE_ACTIONS} == ACTIONS
    assert {"unit.share", "workflow.share", "*"} <= ACTIONS
    assert not {"system.admin", "group.read", "rbac.init", "token.create"} & ACTIONS
    for action in Action:
        assert decide(admin, action, WF, enforce=False).action == action.value


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
    assert found.decision.reason == "group 'data-team' (write)"
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
    assert steps["groups"].matched and "'data-team' (2, write)" in steps["groups"].detail
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
