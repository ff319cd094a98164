"""Decisions on administration: who the caller is decides, not what they hold.

System administrators, a group's admins and members, the user a question is about; RBAC
init and token issue, which are decided whether or not access control is on. Used by
`domain.policy.decide`, the one entry point; pure, stdlib only.
"""

from __future__ import annotations

from collections.abc import Collection

from teamgate.domain.actions import Action, DecidedBy
from teamgate.domain.identity import Principal

Verdict = tuple[bool, DecidedBy, str, str]  # allowed, decided by, reason, message


def allow(by: DecidedBy, reason: str) -> Verdict:
    return (True, by, reason, "")


def deny(by: DecidedBy, reason: str, message: str) -> Verdict:
    return (False, by, reason, message)


ANON_MESSAGES: dict[str, str] = {
    Action.SYSTEM_ADMIN: "Anonymous access not allowed for admin operations",
    Action.AUTH_RELOAD: "Anonymous access not allowed for admin operations",
    Action.AUDIT_READ: "Anonymous access not allowed for admin operations",
    Action.GROUP_CREATE: "Anonymous access not allowed for admin operations",
    Action.GROUP_DELETE: "Anonymous access not allowed for admin operations",
    Action.GROUP_MEMBERS: "Anonymous access not allowed for group management",
    Action.WORKFLOW_SHARE: "Anonymous access not allowed for workflow-group operations",
    Action.WORKFLOW_UNSHARE: "Anonymous access not allowed for workflow-group operations",
    Action.UNIT_SHARE: "Anonymous access not allowed for unit sharing",
    Action.UNIT_UNSHARE: "Anonymous access not allowed for unit sharing",
}
# Actions only a system administrator may do (when access control is on).
ADMIN_ACTIONS: frozenset[str] = frozenset(
    {
        Action.SYSTEM_ADMIN,
        Action.AUDIT_READ,
        Action.AUTH_RELOAD,
        Action.GROUP_CREATE,
        Action.GROUP_DELETE,
    }
)
# Questions about one user (the resource is `user_resource(name)`): that user, or a system
# administrator, may ask them.
SELF_MESSAGES: dict[str, str] = {
    Action.ACCESS_CHECK: "may only check their own access (system administrators may check "
    "anyone's)",
    Action.ACCESS_EXPLAIN: "may only explain their own access (system administrators may "
    "explain anyone's)",
    Action.USER_GROUPS: "may only list their own groups (system administrators may list anyone's)",
    Action.TOKEN_REVOKE: "may only revoke their own tokens (system administrators may revoke "
    "anyone's)",
    Action.TOKEN_LIST: "may only list their own tokens (system administrators may list anyone's)",
}


def decide_admin(principal: Principal) -> Verdict:
    if principal.is_admin:
        return allow(DecidedBy.ADMIN, "system administrator")
    return deny(
        DecidedBy.NOT_ADMIN,
        "not a system administrator",
        f"User '{principal.name}' is not a system administrator",
    )


def decide_group_admin(
    principal: Principal, group: int | None, admin_of: Collection[int]
) -> Verdict:
    if principal.is_admin:
        return allow(DecidedBy.ADMIN, "system administrator")
    if group is not None and group in admin_of:
        return allow(DecidedBy.GROUP_ADMIN, f"admin of group {group}")
    return deny(
        DecidedBy.NOT_GROUP_ADMIN,
        "not a group administrator",
        f"User '{principal.name}' is not an admin of group {group}",
    )


def decide_group_read(principal: Principal, group: int | None, groups: Collection[int]) -> Verdict:
    """One group and its members: its members and system administrators. Without a group
    (listing groups): everyone signed in, who sees their own groups (administrators, all)."""
    if principal.is_admin:
        return allow(DecidedBy.ADMIN, "system administrator")
    if group is None:
        return allow(DecidedBy.SELF, "own groups")
    if group in groups:
        return allow(DecidedBy.MEMBER, f"member of group {group}")
    return deny(
        DecidedBy.NOT_MEMBER,
        "not a member of the group",
        f"User '{principal.name}' is not a member of group {group}",
    )


def decide_self(principal: Principal, action: str, subject: str | None) -> Verdict:
    if principal.is_admin:
        return allow(DecidedBy.ADMIN, "system administrator")
    if principal.name is not None and principal.name == subject:
        return allow(DecidedBy.SELF, "self")
    by = DecidedBy.ANONYMOUS if principal.name is None else DecidedBy.NOT_SELF
    message = f"User '{principal.display}' {SELF_MESSAGES[action]}"
    return deny(by, f"not user '{subject}' nor a system administrator", message)


def decide_rbac_init(principal: Principal, *, admins_configured: bool) -> Verdict:
    """The administrator, or the first caller when none is configured (RBAC makes them its
    administrator, so an anonymous caller may never)."""
    if principal.name is None:
        message = "Sign in first: RBAC init makes the caller its administrator"
        return deny(DecidedBy.ANONYMOUS, "anonymous", message)
    if principal.is_admin:
        return allow(DecidedBy.ADMIN, "system administrator")
    if not admins_configured:
        return allow(DecidedBy.FIRST_CALLER, "first caller, no administrators")
    return decide_admin(principal)


def decide_token(principal: Principal) -> Verdict:
    """A token is always the caller's own, issued against their password or their identity
    provider's sign-in (OIDC): a stolen token must not mint tokens that outlive it."""
    if principal.name is None:
        message = "Sign in with a user name and password (or 'taco login') to get a token"
        return deny(DecidedBy.ANONYMOUS, "anonymous", message)
    if principal.method not in ("password", "oidc") or principal.credential is None:
        message = (
            "Tokens are issued against a password or an identity provider's sign-in, "
            "not another token"
        )
        return deny(DecidedBy.TOKEN, "signed in with a token", message)
    return allow(DecidedBy.SELF, "own token")
