"""The one vocabulary of what can be decided, and of what decided it.

Every `decide()` call names an `Action`. The RBAC rule actions (`RULE_ACTIONS`) are the ones a
permission's rules may name; the others are administrative and decided by who the caller is
(a system administrator, a group's admin or member, the user asked about). Rule validation,
the `taco rbac permission create` help and the metrics' labels all derive from these enums.
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    # RBAC rule actions
    UNIT_READ = "unit.read"
    UNIT_WRITE = "unit.write"  # also creating a unit, once RBAC is initialised
    UNIT_LOCK = "unit.lock"  # lock and unlock
    UNIT_DELETE = "unit.delete"
    UNIT_SHARE = "unit.share"  # a unit's share rules may also say workflow.share, as before
    RBAC_MANAGE = "rbac.manage"
    WORKFLOW_READ = "workflow.read"
    WORKFLOW_WRITE = "workflow.write"
    WORKFLOW_DELETE = "workflow.delete"
    WORKFLOW_SHARE = "workflow.share"
    ANY = "*"  # in a rule: every action
    # Administrative actions: no rule names them
    SYSTEM_ADMIN = "system.admin"  # what only a system administrator does
    AUDIT_READ = "audit.read"  # list the audit log
    AUTH_RELOAD = "auth.reload"  # re-read the htpasswd file
    GROUP_CREATE = "group.create"
    GROUP_DELETE = "group.delete"
    GROUP_READ = "group.read"  # one group and its members: its members, system administrators
    GROUP_MEMBERS = "group.members"  # add or remove members: the group's admins
    USER_GROUPS = "user.groups"  # the groups one user belongs to: that user
    WORKFLOW_SHARES = "workflow.shares"  # the groups a workflow is shared with
    WORKFLOW_UNSHARE = "workflow.unshare"  # decided under workflow.share rules
    UNIT_UNSHARE = "unit.unshare"  # decided under unit.share and workflow.share rules
    ACCESS_CHECK = "access.check"  # whether a user may read a workflow: that user
    ACCESS_EXPLAIN = "access.explain"  # how a user's access is decided: that user
    RBAC_INIT = "rbac.init"
    TOKEN_CREATE = "token.create"  # only against a password, never another token
    TOKEN_REVOKE = "token.revoke"  # a user's tokens: that user
    TOKEN_LIST = "token.list"  # a user's tokens: that user, or a system administrator
    ACCESS_WHO = "access.who"  # who can reach a workflow or unit: its owner, admin-level
    # groups, RBAC managers and system administrators


RULE_ACTIONS: tuple[Action, ...] = (
    Action.UNIT_READ,
    Action.UNIT_WRITE,
    Action.UNIT_LOCK,
    Action.UNIT_DELETE,
    Action.UNIT_SHARE,
    Action.RBAC_MANAGE,
    Action.WORKFLOW_READ,
    Action.WORKFLOW_WRITE,
    Action.WORKFLOW_DELETE,
    Action.WORKFLOW_SHARE,
    Action.ANY,
)

# The rule actions that allow (or deny) sharing and unsharing a resource, by its kind.
SHARE_RULES: dict[str, tuple[Action, ...]] = {
    "workflow": (Action.WORKFLOW_SHARE,),
    "unit": (Action.UNIT_SHARE, Action.WORKFLOW_SHARE),
}


def rule_actions_help() -> str:
    """The actions a rule may name, for help texts: `unit.read, unit.write, …, *`."""
    return ", ".join(action.value for action in RULE_ACTIONS)


class DecidedBy(StrEnum):
    """What made a decision (the metrics' `decided_by` label; the reason says more)."""

    DISABLED = "disabled"  # access control is off
    ANONYMOUS = "anonymous"
    ADMIN = "admin"  # a system administrator
    NOT_ADMIN = "not_admin"  # refused: needs a system administrator
    GROUP_ADMIN = "group_admin"  # an admin of the group concerned
    NOT_GROUP_ADMIN = "not_group_admin"
    MEMBER = "member"  # a member of the group concerned
    NOT_MEMBER = "not_member"
    OWNER = "owner"
    GROUP = "group"  # the resource is shared with one of the caller's groups
    RULE = "rule"  # an RBAC allow rule
    DENY_RULE = "deny_rule"  # an RBAC deny rule
    NO_GRANT = "no_grant"
    CREATOR = "creator"  # a new unit before `rbac init`: its creator will own it
    SELF = "self"  # the caller asked about (or acting on) themself
    NOT_SELF = "not_self"
    FIRST_CALLER = "first_caller"  # rbac init with no administrator configured
    TOKEN = "token"  # refused: signed in with a token where a password is needed
    SCOPE = "scope"  # refused: outside the scope of the token signed in with
    OTHER = "other"  # a decision made by hand (tests only)
