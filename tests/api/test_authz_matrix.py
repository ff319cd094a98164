"""Who may call what: every route of the server, for every kind of caller, from one table.

`TABLE` maps each route (method and path template, as the application declares it) to the
outcome expected for each kind of caller, written with a few named defaults (`PUBLIC`, `OPEN`,
`ADMIN_ONLY`, `WORKFLOW_READERS`, …) and, where a route needs one, how to build its request.
A route that the application serves but the table does not name fails
`test_every_route_is_in_the_table`, so a new endpoint cannot be forgotten.

The callers, against one server in process (auth file, access control on, `root` is the system
administrator):

- anonymous: no credentials (the server does not require them);
- bad-credentials: alice with a password that is not hers (in the OIDC run: a forged ID token);
- user: dave, who has nothing to do with anything below;
- owner: alice, who created the workflows and the units;
- read-member: rhea, a member of `viewers`, which every workflow and unit of alice's is shared
  with at level `read`;
- member: bob, a member of the group `team` most of them are shared with, at level `write`
  (the default);
- admin-member: adam, a member of `stewards`, which every workflow and unit of alice's is
  shared with at level `admin`;
- group-admin: carol, an admin of `team` (so a member of it) and of `other`, with no other
  rights on alice's things;
- rbac-allowed: erin, whose role allows every workflow and unit action (sharing included) and
  rbac.manage on `*`;
- rbac-denied: frank, a member of `team` whose role denies everything (deny beats the share);
- group-role: gwen, whose only rules come from the role of her group `operators` (reading and
  writing every workflow and unit; no locking, deleting or sharing);
- group-role-denied: gary, a member of `team` and of `blocked`, whose role denies everything:
  a deny that comes through a group's role still beats the share;
- read-only token, prefix token, other-prefix token, workflow token, other-workflow token: erin,
  who may do nearly anything, signed in with a token of hers whose scope is then all that
  limits her: read-only; units under `team` (every unit of the matrix); units under `tea` (none
  of them: `tea` does not hold `team/app`); the workflow the call is about (a token made for
  each call); alice's other workflow `elsewhere`;
- admin: root, a system administrator (who does not silently read other users' data);
- required-auth anonymous: no credentials, against a second server with `require_auth`.

The whole matrix runs twice, with the same table (`sign_in`): once with htpasswd passwords, and
once with OpenID Connect, where the servers have `--oidc-issuer` (a real IdP, tests/idp.py), no
htpasswd file at all, and every user above signs in with an ID token the IdP issued for their
account (`<name>@example.com`, the default `email` username claim; never a token made here). Each
user's access comes from the same place as in the password run, through OIDC: alice owns what
she creates; the plain memberships (bob, frank and gary in `team`, rhea in `viewers`, adam in
`stewards`, gwen in `operators`, gary in `blocked`) come only from the IdP's `groups` claim, with
no membership rows; carol's group administration stays rows (an IdP group makes a member, not
an admin); erin's, frank's and the observer's roles are assigned to their e-mails; root is an
administrator only through `--oidc-admin-group`; erin's scoped tokens are minted after her OIDC
sign-in; and bad-credentials is alice's real ID token rewritten to name root in the admin group
(its signature no longer verifies), a 401 wherever a wrong password is. One decision, whichever
way a caller signs in: no outcome differs.

Outcomes are "allowed" (any 2xx), 401, 403 or, where a route says so, another status. No route
hides whether something exists (a missing workflow is 404, another user's is 403, by design), so
404 appears nowhere. A call that destroys its target or can succeed only once on it (delete,
lock, share, restore, …) gets a fresh target for every caller, so the rows do not depend on each
other's leftovers and share one pair of servers per test process. `POST /v1/rbac/init` can
succeed once per server and changes what every caller may do, so its row gets servers of its own;
the administrator comes last in each row. The `require_auth` server has the same standing data,
and its caller's targets are made there.

A share's level decides what its group's members may do (domain.levels): `read` reads a
workflow (its jobs, results, events, status, shares) or a unit (state, versions); `write` adds
changing, running, canceling, resetting, writing, locking and restoring; `admin` adds deleting,
re-sharing and asking who can reach it. The rows name the callers that may by what the call
needs (`WORKFLOW_READERS`, `UNIT_WRITERS`, `WORKFLOW_ADMINS`, …).

Sharing gives a whole group access, so it needs the right to share that resource: its owner,
an `admin`-level share, an RBAC allow for the share action, or a system administrator. A
group's admin gets no right over what they do not control, whether the resource is new to
their group or already shared with it (`VARIANTS`: the same routes with other targets);
removing a share is also open to the group's admins.

A token's scope is an upper bound on what its user may do. Besides the rows' outcomes, every
call a scoped token makes that succeeds is checked against its scope, whatever the row says
(`beyond_scope`): a read-only token sends nothing but reads, a question and the ending of
tokens; a prefix token reaches nothing but units under its prefix, and a workflow token
nothing but its workflow, except routes that reach no one's data (`HARMLESS`: health,
documentation, who the caller is, their own tokens) and lists, which may show only what the
scope holds. The matrix walks every route with each token, so no route exceeds a scope.

A refusal must also change nothing. Every route that is not a GET names a `probe`: what an
onlooker reads of the call's target (the unit, the workflow and its shares, the group and its
members, the permission, role or assignment, alice's standing token, …). Before each call that
the table expects to be refused, and again after it, the probe looks; the two must be equal. The
onlookers are root for groups, RBAC and the audit log, and `observer`, a user whose role allows
reading every workflow and unit (root does not read other users' data); a probe that cannot read
its target fails rather than compare two refusals.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastapi.routing
import httpx
import pytest

from tests.conftest import USERS, start_app
from tests.idp import CLIENT_ID, DEFAULT_SCOPE, IdP, unverified_claims
from tests.inprocess import App

TORC = "/torc-service/v1"
OK = 200  # any 2xx

# erin's tokens, by the scope that bounds them (the body of POST /v1/auth/token).
PREFIX = "team"  # holds every unit of the matrix: team/app and team/unit-<n>
OTHER_PREFIX = "tea"  # holds none of them (a prefix is a whole path segment)
READ_ONLY_TOKEN = "read-only token"
PREFIX_TOKEN = "prefix token"
OTHER_PREFIX_TOKEN = "other-prefix token"
WORKFLOW_TOKEN = "workflow token"  # a token for each call, scoped to the call's workflow
OTHER_WORKFLOW_TOKEN = "other-workflow token"
TOKENS = (
    READ_ONLY_TOKEN,
    PREFIX_TOKEN,
    OTHER_PREFIX_TOKEN,
    WORKFLOW_TOKEN,
    OTHER_WORKFLOW_TOKEN,
)
TOKEN_USER = "erin"
KINDS = (
    "anonymous",
    "bad-credentials",
    "user",
    "owner",
    "read-member",
    "member",
    "admin-member",
    "group-admin",
    "rbac-allowed",
    "rbac-denied",
    "group-role",
    "group-role-denied",
    *TOKENS,
    "admin",  # after the others: it may change what they would see (rbac init)
    "required-auth anonymous",
)
USER_OF = {
    "user": "dave",
    "owner": "alice",
    "read-member": "rhea",
    "member": "bob",
    "admin-member": "adam",
    "group-admin": "carol",
    "rbac-allowed": "erin",
    "rbac-denied": "frank",
    "group-role": "gwen",
    "group-role-denied": "gary",
    "admin": "root",
}
NAMED = tuple(USER_OF)
WRONG_PASSWORD = ("alice", "not-alices-password")
OBSERVER = "observer"  # reads every workflow and unit, for the probes; calls nothing itself
# The groups every workflow and unit of alice's is shared with at a level: name → level.
LEVEL_GROUPS = {"viewers": "read", "stewards": "admin"}
# The access groups: name → {user: role}. In the OIDC run a plain membership comes from the
# IdP's groups claim alone (`idp_groups_of`), with no row; a group's admins are rows.
MEMBERSHIPS: dict[str, dict[str, str]] = {
    "team": {"bob": "member", "carol": "admin", "frank": "member", "gary": "member"},
    "viewers": {"rhea": "member"},
    "stewards": {"adam": "member"},
    "other": {"carol": "admin"},
    "operators": {"gwen": "member"},
    "blocked": {"gary": "member"},
}
ALL_USERS = (*USERS, "rhea", "adam", "erin", "frank", "gwen", "gary", "root", OBSERVER)

Expect = dict[str, int]


def allowed(*kinds: str, anonymous: int = 403) -> Expect:
    """`kinds` are allowed; other named users and tokens get 403, `anonymous` as given, bad
    credentials and anonymous callers of a server that requires authentication 401."""
    row = {kind: OK if kind in kinds else 403 for kind in (*NAMED, *TOKENS)}
    return {
        **row,
        "anonymous": anonymous,
        "bad-credentials": 401,
        "required-auth anonymous": 401,
    }


DENIED = ("rbac-denied", "group-role-denied")  # a deny rule on everything, theirs or a group's
PUBLIC = dict.fromkeys(KINDS, OK)  # no authentication at all: bad credentials are not even read
OPEN = allowed(*NAMED, *TOKENS, anonymous=OK)  # anyone who passed authentication
# Any user with a name, with any token: lists are filtered to what they may see, and to what
# the token's scope holds.
SIGNED_IN = allowed(*NAMED, *TOKENS)
OWN_NEW = allowed(*(k for k in NAMED if k not in DENIED))  # one's own: deny rules apply
ADMIN_ONLY = allowed("admin")
RBAC_MANAGERS = allowed("admin", "rbac-allowed")
# A workflow or unit of alice's, by what the call needs: each share level adds to the one
# before it (domain.levels); carol is in `team`; gwen's group role reads and writes; the
# tokens that reach it are erin's whose scope holds the call.
WRITERS = ("owner", "member", "admin-member", "group-admin", "rbac-allowed", "group-role")
READERS = ("read-member", *WRITERS)
WORKFLOW_READERS = allowed(*READERS, READ_ONLY_TOKEN, WORKFLOW_TOKEN)
WORKFLOW_WRITERS = allowed(*WRITERS, WORKFLOW_TOKEN)
WORKFLOW_ADMINS = allowed("owner", "admin-member", "rbac-allowed", WORKFLOW_TOKEN)  # delete
UNIT_READERS = allowed(*READERS, READ_ONLY_TOKEN, PREFIX_TOKEN)
UNIT_WRITERS = allowed(*WRITERS, PREFIX_TOKEN)
UNIT_LOCKERS = {**UNIT_WRITERS, "group-role": 403}  # gwen's role does not lock
UNIT_ADMINS = allowed("owner", "admin-member", "rbac-allowed", PREFIX_TOKEN)  # delete
GROUP_READERS = allowed("member", "group-admin", *DENIED, "admin")  # RBAC has no say
GROUP_ADMINS = allowed("group-admin", "admin")
# Sharing: not a group's admin (finding 1), but an `admin`-level group's members.
SHARERS = allowed("owner", "admin-member", "rbac-allowed", "admin")
UNSHARERS = allowed("owner", "admin-member", "group-admin", "rbac-allowed", "admin")  # safe
WORKFLOW_SHARERS = {**SHARERS, WORKFLOW_TOKEN: OK}
WORKFLOW_UNSHARERS = {**UNSHARERS, WORKFLOW_TOKEN: OK}
UNIT_SHARERS = {**SHARERS, PREFIX_TOKEN: OK}
UNIT_UNSHARERS = {**UNSHARERS, PREFIX_TOKEN: OK}
# Who can reach it: its owner, its admin-level groups, RBAC managers, system administrators.
WHO_ASKERS = ("owner", "admin-member", "rbac-allowed", "admin", READ_ONLY_TOKEN)
WORKFLOW_WHO = allowed(*WHO_ASKERS, WORKFLOW_TOKEN)
UNIT_WHO = allowed(*WHO_ASKERS, PREFIX_TOKEN)
SELF_OR_ADMIN = allowed("member", "admin")  # the requests ask about bob, the member
SELF_OR_RBAC_MANAGER = allowed("member", "admin", "rbac-allowed")


# -- how the callers sign in: passwords, or ID tokens of a real IdP ------------------------------
IDP_DOMAIN = "example.com"  # the OIDC run's users are <name>@example.com
ADMIN_GROUP = "admins"  # --oidc-admin-group: root's only claim to administration in the OIDC run
ID_TOKEN_TTL = 3 * 3600  # one ID token per user for the whole module, on either database


def idp_groups_of(user: str) -> list[str]:
    """`user`'s groups at the IdP in the OIDC run: those they are a plain member of in
    MEMBERSHIPS, and root's admin group."""
    groups = [name for name, members in MEMBERSHIPS.items() if members.get(user) == "member"]
    return [*groups, ADMIN_GROUP] if user == "root" else groups


@dataclass(frozen=True)
class SignIn:
    """How the callers sign in: with their passwords (`issuer` None), or with the ID tokens
    (`id_tokens`, by user of the matrix) the IdP at `issuer` issued for their accounts, and,
    for bad credentials, `forged`."""

    issuer: str | None = None
    id_tokens: dict[str, str] = field(default_factory=dict)
    forged: str = ""

    def who(self, user: str) -> str:
        """`user` as the server names them: the e-mail in the OIDC run (the username claim)."""
        return user if self.issuer is None else f"{user}@{IDP_DOMAIN}"

    def settings(self) -> dict[str, Any]:
        """The servers' settings for this way of signing in."""
        if self.issuer is None:
            return {"users": ALL_USERS, "admin_users": ("root",)}
        return {
            "users": (),  # no htpasswd file: everyone signs in through the IdP
            "admin_users": (),
            "oidc_issuer": self.issuer,
            "oidc_client_id": CLIENT_ID,
            "oidc_scopes": tuple(DEFAULT_SCOPE.split()),  # with `groups`
            "oidc_admin_groups": (ADMIN_GROUP,),
        }

    def client(self, server: App, user: str) -> httpx.Client:
        if self.issuer is None:
            return server.client(user)
        return server.client(headers={"Authorization": f"Bearer {self.id_tokens[user]}"})

    def bad_credentials(self, server: App) -> httpx.Client:
        if self.issuer is None:
            return server.client(auth=WRONG_PASSWORD)
        return server.client(headers={"Authorization": f"Bearer {self.forged}"})


PASSWORDS = SignIn()


def forge(id_token: str) -> str:
    """A real ID token whose payload is rewritten to name root, in the admin group: the
    IdP's signature, made over the original, no longer verifies."""
    header, _, signature = id_token.split(".")
    claims = {**unverified_claims(id_token), "email": f"root@{IDP_DOMAIN}", "groups": [ADMIN_GROUP]}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


@dataclass(frozen=True)
class Call:
    """One concrete request; `own_token`: sent with a fresh token of the caller's (Bearer)."""

    path: str
    json: Any = None
    content: bytes | None = None
    params: dict[str, str] = field(default_factory=dict)
    own_token: bool = False


MISSING = "missing (404)"


@dataclass
class World:
    """One server: a client per user, one per kind of caller it answers, the standing data
    and makers of fresh data."""

    server: App
    users: dict[str, httpx.Client]  # by user name: setting up and probing
    callers: dict[str, httpx.Client]  # by kind of caller
    group: int  # "team"
    other: int  # "other", where carol is an admin too
    levels: dict[int, str]  # the groups all of alice's things are shared with, and at what level
    workflow: int  # alice's, shared with team
    elsewhere: int  # alice's other workflow, shared with team
    unit: str  # alice's, with state, shared with team
    token: str  # alice's
    tokens: dict[str, str]  # erin's standing tokens, by kind of caller
    serial: Iterator[int] = field(default_factory=itertools.count)
    daves_token: str = ""  # made for the latest `DELETE /v1/auth/tokens?user=dave`
    secrets: dict[str, str] = field(default_factory=dict)  # token id → secret, for the probes
    sign_in: SignIn = PASSWORDS

    def client(self, user: str) -> httpx.Client:
        return self.users[user]

    def who(self, user: str) -> str:
        """A user of the matrix as the server names them (in paths, bodies and queries)."""
        return self.sign_in.who(user)

    def look(self, user: str, path: str, **params: str) -> Any:
        """What `user` reads at `path`: the body, or MISSING on a 404; any other answer fails
        (an onlooker who may not look would compare two refusals)."""
        response = self.users[user].get(path, params=params)
        if response.status_code == 404:
            return MISSING
        return ok(response)

    def name(self, prefix: str) -> str:
        return f"{prefix}-{next(self.serial)}"

    def new_workflow(self, *, shared: bool) -> int:
        """A workflow of alice's, shared with viewers (read) and stewards (admin), and with
        team (write) if `shared`."""
        alice = self.client("alice")
        body = {"name": self.name("wf"), "access_groups": ["team"] if shared else []}
        workflow = int(ok(alice.post(f"{TORC}/workflows", json=body))["id"])
        for group, level in self.levels.items():
            url = f"{TORC}/workflows/{workflow}/access_groups/{group}"
            ok(alice.post(url, json={"access": level}))
        return workflow

    def new_unit(self, *, shared: bool = True, writes: int = 0) -> str:
        """A unit of alice's under PREFIX, shared like `new_workflow`'s workflows."""
        path = f"{PREFIX}/{self.name('unit')}"
        alice = self.client("alice")
        ok(alice.post("/v1/units", json={"path": path}))
        for serial in range(writes):
            ok(alice.put(f"/v1/state/{path}", content=state(serial)))
        self.share_unit(path, team=shared)
        return path

    def share_unit(self, path: str, *, team: bool) -> None:
        shares = {"team": "write"} if team else {}
        shares.update(LEVEL_GROUPS)
        for group, level in shares.items():
            body = {"group": group, "access": level}
            ok(self.client("alice").post(f"/v1/shares/{path}", json=body))

    def new_token(self, kind: str, workflow: int) -> str:
        """A new token of erin's with the scope of `kind` (a workflow token's: `workflow`)."""
        scope = {
            READ_ONLY_TOKEN: {"read_only": True},
            PREFIX_TOKEN: {"unit_prefix": PREFIX},
            OTHER_PREFIX_TOKEN: {"unit_prefix": OTHER_PREFIX},
            WORKFLOW_TOKEN: {"workflow_id": workflow},
            OTHER_WORKFLOW_TOKEN: {"workflow_id": self.elsewhere},
        }[kind]
        issued = ok(self.client(TOKEN_USER).post("/v1/auth/token", json=scope))
        return str(issued["token"])

    def new_locked_unit(self) -> tuple[str, str]:
        path = self.new_unit()
        lock = ok(self.client("alice").post(f"/v1/locks/{path}", json={"who": "alice"}))
        return path, str(lock["ID"])

    def new_group(self) -> int:
        body = {"name": self.name("group")}
        return int(ok(self.client("root").post(f"{TORC}/access_groups", json=body))["id"])

    def new_member(self) -> str:
        user = self.name("member")
        body = {"user_name": user}
        ok(self.client("root").post(f"{TORC}/access_groups/{self.group}/members", json=body))
        return user

    def new_permission(self) -> str:
        body = {"id": self.name("perm"), "rules": ["allow:unit.read:nothing/*"]}
        return str(ok(self.client("root").post("/v1/rbac/permissions", json=body))["id"])

    def new_role(self, *, permission: str | None = None) -> str:
        root = self.client("root")
        role = str(ok(root.post("/v1/rbac/roles", json={"id": self.name("role")}))["id"])
        if permission is not None:
            ok(root.post(f"/v1/rbac/roles/{role}/permissions", json={"permission_id": permission}))
        return role

    def new_group_role(self, *, assigned: bool) -> dict[str, str]:
        """A fresh group and role, the role given to the group if `assigned`."""
        root = self.client("root")
        body = {"group": self.name("group"), "role_id": self.new_role()}
        ok(root.post(f"{TORC}/access_groups", json={"name": body["group"]}))
        if assigned:
            ok(root.post("/v1/rbac/groups/assign", json=body))
        return body

    def new_token_of(self, user: str) -> str:
        """The id of a new (unscoped) token of `user`'s; its secret is kept for `token_works`."""
        issued = ok(self.client(user).post("/v1/auth/token"))
        self.secrets[str(issued["id"])] = str(issued["token"])
        return str(issued["id"])

    def new_assignment(self) -> dict[str, str]:
        body = {"email": self.name("someone"), "role_id": self.new_role()}
        ok(self.client("root").post("/v1/rbac/users/assign", json=body))
        return body


def ok(response: httpx.Response) -> Any:
    assert response.is_success, (response.request.method, response.request.url, response.text)
    return response.json()


def state(serial: int) -> bytes:
    return b'{"version": 4, "serial": %d, "lineage": "matrix", "resources": []}' % serial


Build = Callable[[World], Call]
Probe = Callable[[World, Call], Any]  # what an onlooker reads of the call's target


@dataclass(frozen=True)
class Row:
    expect: Expect
    build: Build | None = None  # None: the path template is the path
    probe: Probe | None = None  # every route but GETs has one
    # instead of `build`, for a call that depends on who makes it: given the caller's user
    # (a token's: erin; None for callers without one)
    for_caller: Callable[[World, str | None], Call] | None = None


def unlock_backend(w: World) -> Call:
    path, lock_id = w.new_locked_unit()
    return Call(f"/v1/backend/{path}", json={"ID": lock_id})


def revoke_permission(w: World) -> Call:
    permission = w.new_permission()
    return Call(f"/v1/rbac/roles/{w.new_role(permission=permission)}/permissions/{permission}")


def restore(w: World) -> Call:
    path = w.new_unit(writes=2)
    versions = ok(w.client("alice").get(f"/v1/versions/{path}"))["versions"]
    return Call(f"/v1/restore/{path}", json={"version": versions[-1]["version"]})


# -- probes: what a call's target looks like to an onlooker -------------------------------------


def segment(call: Call, index: int) -> str:
    return call.path.split("/")[index]


def workflow_at(w: World, call: Call) -> Any:
    """The workflow the path names (…/workflows/<id>/…), with the groups it is shared with."""
    workflow_id = re.search(r"/workflows/(\d+)", call.path)
    assert workflow_id is not None, call.path
    return w.look(OBSERVER, f"{TORC}/workflows/{workflow_id[1]}")


def workflows_named(w: World, call: Call) -> Any:
    return w.look(OBSERVER, f"{TORC}/workflows", name=call.json["name"])["items"]


def members_at(w: World, call: Call) -> Any:
    """The members of the group the path names (…/access_groups/<id>/…); MISSING once the
    group is gone."""
    return w.look("root", f"{TORC}/access_groups/{segment(call, 4)}/members")


def groups_named(w: World, call: Call) -> Any:
    groups = w.look("root", f"{TORC}/access_groups")["items"]
    return [g for g in groups if g["name"] == call.json["name"]]


def unit_at(w: World, call: Call) -> Any:
    """The unit of a /v1/<units|state|locks|shares|…>/<unit path> call: its state's version
    and digest, its lock and the groups it is shared with."""
    return w.look(OBSERVER, f"/v1/units/{call.path.split('/', 3)[3]}")


def unit_named(w: World, call: Call) -> Any:
    return w.look(OBSERVER, f"/v1/units/{call.json['path']}")


def rbac_entry(w: World, listing: str, key: str, value: str) -> Any:
    return [item for item in w.look("root", f"/v1/rbac/{listing}") if item[key] == value]


def permission_at(w: World, call: Call) -> Any:
    """The permission the body creates or the path names, with its rules."""
    permission = call.json["id"] if call.json else segment(call, 4)
    return rbac_entry(w, "permissions", "id", permission)


def role_at(w: World, call: Call) -> Any:
    """The role the body creates or the path names (/v1/rbac/roles/<id>/…), with its
    permissions."""
    role = call.json["id"] if call.path == "/v1/rbac/roles" else segment(call, 4)
    return rbac_entry(w, "roles", "id", role)


def roles_of_user(w: World, call: Call) -> Any:
    return rbac_entry(w, "users", "email", call.json["email"])


def rbac_state(w: World, call: Call) -> Any:
    """Whether RBAC has been initialised, and root's roles."""
    return w.look("root", "/v1/rbac/me")


def standing_token(w: World, call: Call) -> Any:
    """alice's token still signs her in."""
    bearer = {"Authorization": f"Bearer {w.token}"}
    return ok(w.client("alice").get("/v1/auth/me", headers=bearer, auth=None))


def daves_tokens(w: World) -> Call:
    """Revoke all of dave's tokens, with one of his made for this call."""
    w.daves_token = str(ok(w.client("dave").post("/v1/auth/token"))["token"])
    return Call("/v1/auth/tokens", params={"user": w.who("dave")})


def daves_token(w: World, call: Call) -> Any:
    """Whether the token made for the call still signs dave in."""
    bearer = {"Authorization": f"Bearer {w.daves_token}"}
    return w.client("dave").get("/v1/auth/me", headers=bearer, auth=None).status_code


def token_works(w: World, call: Call) -> Any:
    """Whether the token the path names (…/<token id>) still signs its user in."""
    bearer = {"Authorization": f"Bearer {w.secrets[call.path.rsplit('/', 1)[1]]}"}
    return w.client("alice").get("/v1/auth/me", headers=bearer, auth=None).status_code


def roles_of_group(w: World, call: Call) -> Any:
    roles = w.look("root", "/v1/rbac/groups", limit="10000")["items"]
    return [item for item in roles if item["group"] == call.json["group"]]


def tokens_issued(w: World, call: Call) -> Any:
    """The newest token issued (every issue is in the audit log)."""
    issued = {"action": "token.create", "decision": "allowed", "limit": "1"}
    return w.look("root", "/v1/audit", **issued)["items"]


def nothing_kept(w: World, call: Call) -> None:
    """A POST that keeps nothing: it asks the policy, or re-reads the auth file."""
    return None


TABLE: dict[str, Row] = {
    # -- health, metrics, documentation: no authentication
    "GET /healthz": Row(PUBLIC),
    "GET /metrics": Row(OPEN),  # --public-metrics: tests/e2e/test_operations.py
    "GET /openapi.json": Row(PUBLIC),
    "GET /docs": Row(PUBLIC),
    "GET /docs/oauth2-redirect": Row(PUBLIC),
    "GET /redoc": Row(PUBLIC),
    # -- Torc: system
    f"GET {TORC}/ping": Row(OPEN),
    f"GET {TORC}/version": Row(OPEN),
    f"POST {TORC}/admin/reload-auth": Row(ADMIN_ONLY, probe=nothing_kept),
    f"GET {TORC}/audit": Row(ADMIN_ONLY),
    # -- Torc: workflows
    f"POST {TORC}/workflows": Row(
        OWN_NEW,
        lambda w: Call(f"{TORC}/workflows", json={"name": w.name("new")}),
        probe=workflows_named,
    ),
    f"POST {TORC}/workflow_specs": Row(
        OWN_NEW,
        lambda w: Call(
            f"{TORC}/workflow_specs",
            json={"name": w.name("spec"), "jobs": [{"name": "a", "command": "true"}]},
        ),
        probe=workflows_named,
    ),
    f"GET {TORC}/workflows": Row(SIGNED_IN),
    f"GET {TORC}/workflows/{{id}}": Row(
        WORKFLOW_READERS, lambda w: Call(f"{TORC}/workflows/{w.workflow}")
    ),
    f"DELETE {TORC}/workflows/{{id}}": Row(
        WORKFLOW_ADMINS,
        lambda w: Call(f"{TORC}/workflows/{w.new_workflow(shared=True)}"),
        probe=workflow_at,
    ),
    f"GET {TORC}/workflows/{{id}}/access_groups": Row(
        {**WORKFLOW_READERS, "admin": OK},  # and who manages sharing
        lambda w: Call(f"{TORC}/workflows/{w.workflow}/access_groups"),
    ),
    f"POST {TORC}/workflows/{{id}}/access_groups/{{group_id}}": Row(
        WORKFLOW_SHARERS,
        lambda w: Call(f"{TORC}/workflows/{w.new_workflow(shared=False)}/access_groups/{w.group}"),
        probe=workflow_at,
    ),
    f"POST {TORC}/workflows/{{id}}/access_groups": Row(
        WORKFLOW_SHARERS,
        lambda w: Call(
            f"{TORC}/workflows/{w.new_workflow(shared=False)}/access_groups",
            json={"group_id": w.group},
        ),
        probe=workflow_at,
    ),
    f"DELETE {TORC}/workflows/{{id}}/access_groups/{{group_id}}": Row(
        WORKFLOW_UNSHARERS,
        lambda w: Call(f"{TORC}/workflows/{w.new_workflow(shared=True)}/access_groups/{w.group}"),
        probe=workflow_at,
    ),
    f"GET {TORC}/access_check/{{workflow_id}}/{{user_name}}": Row(
        SELF_OR_ADMIN, lambda w: Call(f"{TORC}/access_check/{w.workflow}/{w.who('bob')}")
    ),
    f"GET {TORC}/access_explain/{{workflow_id}}/{{user_name}}": Row(
        SELF_OR_ADMIN, lambda w: Call(f"{TORC}/access_explain/{w.workflow}/{w.who('bob')}")
    ),
    # -- Torc: access groups
    f"POST {TORC}/access_groups": Row(
        ADMIN_ONLY,
        lambda w: Call(f"{TORC}/access_groups", json={"name": w.name("group")}),
        probe=groups_named,
    ),
    # groups are no workflow's or unit's: a token scoped to some does not list them
    f"GET {TORC}/access_groups": Row(allowed(*NAMED, READ_ONLY_TOKEN)),
    f"GET {TORC}/access_groups/{{id}}": Row(
        GROUP_READERS, lambda w: Call(f"{TORC}/access_groups/{w.group}")
    ),
    f"DELETE {TORC}/access_groups/{{id}}": Row(
        ADMIN_ONLY, lambda w: Call(f"{TORC}/access_groups/{w.new_group()}"), probe=members_at
    ),
    f"GET {TORC}/access_groups/{{id}}/members": Row(
        GROUP_READERS, lambda w: Call(f"{TORC}/access_groups/{w.group}/members")
    ),
    f"POST {TORC}/access_groups/{{id}}/members": Row(
        GROUP_ADMINS,
        lambda w: Call(
            f"{TORC}/access_groups/{w.group}/members", json={"user_name": w.name("joiner")}
        ),
        probe=members_at,
    ),
    f"DELETE {TORC}/access_groups/{{id}}/members/{{user_name}}": Row(
        GROUP_ADMINS,
        lambda w: Call(f"{TORC}/access_groups/{w.group}/members/{w.new_member()}"),
        probe=members_at,
    ),
    f"GET {TORC}/users/{{user_name}}/groups": Row(
        SELF_OR_ADMIN, lambda w: Call(f"{TORC}/users/{w.who('bob')}/groups")
    ),
    # -- OpenTaco: identity and tokens
    # A token is minted against a sign-in: a password, or (the OIDC run) an ID token, which is
    # how a user of the IdP gets TF_HTTP_PASSWORD for Terraform (the token is bound to the IdP
    # identity and keeps the ID token's groups); never against another token, which could
    # otherwise outlive itself. So every named caller may, in both runs, and no token.
    "POST /v1/auth/token": Row(
        allowed(*NAMED, anonymous=401), lambda w: Call("/v1/auth/token"), probe=tokens_issued
    ),
    "DELETE /v1/auth/token": Row(
        allowed(*NAMED, *TOKENS, anonymous=401),  # nothing to revoke: sign in with the token
        lambda w: Call("/v1/auth/token", own_token=True),
        probe=standing_token,
    ),
    "DELETE /v1/auth/tokens": Row(  # all of dave's: dave himself, or a system administrator
        allowed("user", "admin"), daves_tokens, probe=daves_token
    ),
    "GET /v1/auth/me": Row(OPEN),
    # how to sign in (the identity provider's issuer, client id and scopes): before any sign-in
    "GET /v1/auth/config": Row(PUBLIC),
    f"GET {TORC}/auth/config": Row(PUBLIC),
    "GET /v1/audit": Row(ADMIN_ONLY),
    # -- OpenTaco: RBAC
    "GET /v1/rbac/me": Row(OPEN),
    "POST /v1/rbac/test": Row(
        SELF_OR_RBAC_MANAGER,
        lambda w: Call("/v1/rbac/test", json={"email": w.who("bob"), "action": "unit.read"}),
        probe=nothing_kept,
    ),
    "GET /v1/rbac/permissions": Row(RBAC_MANAGERS),
    "POST /v1/rbac/permissions": Row(
        RBAC_MANAGERS,
        lambda w: Call(
            "/v1/rbac/permissions", json={"id": w.name("perm"), "rules": ["deny:unit.read:x"]}
        ),
        probe=permission_at,
    ),
    "DELETE /v1/rbac/permissions/{permission_id}": Row(
        RBAC_MANAGERS,
        lambda w: Call(f"/v1/rbac/permissions/{w.new_permission()}"),
        probe=permission_at,
    ),
    "GET /v1/rbac/roles": Row(RBAC_MANAGERS),
    "POST /v1/rbac/roles": Row(
        RBAC_MANAGERS, lambda w: Call("/v1/rbac/roles", json={"id": w.name("role")}), probe=role_at
    ),
    "DELETE /v1/rbac/roles/{role_id}": Row(
        RBAC_MANAGERS, lambda w: Call(f"/v1/rbac/roles/{w.new_role()}"), probe=role_at
    ),
    "POST /v1/rbac/roles/{role_id}/permissions": Row(
        RBAC_MANAGERS,
        lambda w: Call(
            f"/v1/rbac/roles/{w.new_role()}/permissions",
            json={"permission_id": w.new_permission()},
        ),
        probe=role_at,
    ),
    "DELETE /v1/rbac/roles/{role_id}/permissions/{permission_id}": Row(
        RBAC_MANAGERS, revoke_permission, probe=role_at
    ),
    "GET /v1/rbac/users": Row(RBAC_MANAGERS),
    "POST /v1/rbac/users/assign": Row(
        RBAC_MANAGERS,
        lambda w: Call(
            "/v1/rbac/users/assign", json={"email": w.name("someone"), "role_id": w.new_role()}
        ),
        probe=roles_of_user,
    ),
    "POST /v1/rbac/users/revoke": Row(
        RBAC_MANAGERS,
        lambda w: Call("/v1/rbac/users/revoke", json=w.new_assignment()),
        probe=roles_of_user,
    ),
    # -- OpenTaco: units
    "POST /v1/units": Row(
        OWN_NEW, lambda w: Call("/v1/units", json={"path": w.name("new")}), probe=unit_named
    ),
    "GET /v1/units": Row(SIGNED_IN),
    "GET /v1/units/{path}": Row(UNIT_READERS, lambda w: Call(f"/v1/units/{w.unit}")),
    "DELETE /v1/units/{path}": Row(
        UNIT_ADMINS, lambda w: Call(f"/v1/units/{w.new_unit()}"), probe=unit_at
    ),
    "GET /v1/state/{path}": Row(UNIT_READERS, lambda w: Call(f"/v1/state/{w.unit}")),
    "PUT /v1/state/{path}": Row(
        UNIT_WRITERS,
        lambda w: Call(f"/v1/state/{w.unit}", content=state(next(w.serial))),
        probe=unit_at,
    ),
    "GET /v1/versions/{path}": Row(UNIT_READERS, lambda w: Call(f"/v1/versions/{w.unit}")),
    "POST /v1/restore/{path}": Row(UNIT_WRITERS, restore, probe=unit_at),
    "POST /v1/locks/{path}": Row(
        UNIT_LOCKERS,
        lambda w: Call(f"/v1/locks/{w.new_unit()}", json={"who": "matrix"}),
        probe=unit_at,
    ),
    "DELETE /v1/locks/{path}": Row(
        UNIT_LOCKERS,
        lambda w: Call(f"/v1/locks/{w.new_locked_unit()[0]}", params={"force": "true"}),
        probe=unit_at,
    ),
    "POST /v1/shares/{path}": Row(
        UNIT_SHARERS,
        lambda w: Call(f"/v1/shares/{w.new_unit(shared=False)}", json={"group": "team"}),
        probe=unit_at,
    ),
    "DELETE /v1/shares/{path}": Row(
        UNIT_UNSHARERS,
        lambda w: Call(f"/v1/shares/{w.new_unit()}", params={"group": "team"}),
        probe=unit_at,
    ),
    # -- Terraform HTTP backend
    "GET /v1/backend/{path}": Row(UNIT_READERS, lambda w: Call(f"/v1/backend/{w.unit}")),
    "POST /v1/backend/{path}": Row(
        UNIT_WRITERS,
        lambda w: Call(f"/v1/backend/{w.unit}", content=state(next(w.serial))),
        probe=unit_at,
    ),
    "LOCK /v1/backend/{path}": Row(
        UNIT_LOCKERS,
        lambda w: Call(f"/v1/backend/{w.new_unit()}", json={"Who": "matrix"}),
        probe=unit_at,
    ),
    "UNLOCK /v1/backend/{path}": Row(UNIT_LOCKERS, unlock_backend, probe=unit_at),
    "DELETE /v1/backend/{path}": Row(
        UNIT_ADMINS, lambda w: Call(f"/v1/backend/{w.new_unit()}"), probe=unit_at
    ),
    # -- succeeds once per server, for the administrator, who comes after everyone else
    "POST /v1/rbac/init": Row(ADMIN_ONLY, probe=rbac_state),
}


# -- tokens people manage: anyone signed in lists and revokes their own (a scoped token too:
# ending access is safe in any scope) and, with a password or an ID token, makes one; only a
# system administrator lists or revokes another user's (`VARIANTS`).
def token_rows() -> dict[str, Row]:
    rows: dict[str, Row] = {
        f"POST {TORC}/tokens": Row(
            allowed(*NAMED, anonymous=401), lambda w: Call(f"{TORC}/tokens"), probe=tokens_issued
        )
    }
    for base in ("/v1/auth/tokens", f"{TORC}/tokens"):
        rows[f"GET {base}"] = Row(allowed(*NAMED, *TOKENS, anonymous=401))
        rows[f"DELETE {base}/{{token_id}}"] = Row(
            allowed(*NAMED, *TOKENS),  # like DELETE /v1/auth/tokens?user=
            probe=token_works,
            for_caller=lambda w, user, base=base: Call(f"{base}/{w.new_token_of(user or 'alice')}"),
        )
    return rows


TABLE.update(token_rows())

# -- who can reach a workflow or unit: its owner, its admin-level groups, RBAC managers and
# system administrators may ask; roles for access groups: RBAC managers.
TABLE.update(
    {
        f"GET {TORC}/workflows/{{id}}/access": Row(
            WORKFLOW_WHO, lambda w: Call(f"{TORC}/workflows/{w.workflow}/access")
        ),
        "GET /v1/access/{path}": Row(UNIT_WHO, lambda w: Call(f"/v1/access/{w.unit}")),
        "GET /v1/rbac/groups": Row(RBAC_MANAGERS),
        "POST /v1/rbac/groups/assign": Row(
            RBAC_MANAGERS,
            lambda w: Call("/v1/rbac/groups/assign", json=w.new_group_role(assigned=False)),
            probe=roles_of_group,
        ),
        "POST /v1/rbac/groups/revoke": Row(
            RBAC_MANAGERS,
            lambda w: Call("/v1/rbac/groups/revoke", json=w.new_group_role(assigned=True)),
            probe=roles_of_group,
        ),
    }
)


# -- the records around a run (files, user data, resource requirements, compute nodes, events):
# each is decided on its workflow, alice's (shared with team); reads need workflow.read, writes
# workflow.write, which the same callers have.
RECORD_BODIES: dict[str, Callable[[World], dict[str, Any]]] = {
    "files": lambda w: {"name": w.name("file"), "path": "data/in.csv"},
    "user_data": lambda w: {"name": w.name("data"), "data": {"k": [1, 2]}},
    "resource_requirements": lambda w: {"name": w.name("rr"), "num_cpus": 2, "memory": "1g"},
    "compute_nodes": lambda w: {
        "hostname": w.name("host"),
        "pid": 1,
        "start_time": "2026-01-01T00:00:00Z",
        "num_cpus": 2,
        "memory_gb": 4.0,
        "num_gpus": 0,
        "num_nodes": 1,
        "compute_node_type": "local",
    },
    "events": lambda w: {"timestamp": 1, "data": {"category": w.name("note")}},
}
RECORD_CHANGES: dict[str, dict[str, Any]] = {
    "files": {"st_mtime": 1.5},
    "user_data": {"data": {"k": []}},
    "resource_requirements": {"num_cpus": 4, "runtime": "PT2H"},
    "compute_nodes": {"is_active": False, "duration_seconds": 3.0},
}


def new_record(w: World, kind: str) -> int:
    """A fresh record of `kind` in alice's shared workflow."""
    body = {**RECORD_BODIES[kind](w), "workflow_id": w.workflow}
    return int(ok(w.client("alice").post(f"{TORC}/{kind}", json=body))["id"])


def record_at(w: World, call: Call) -> Any:
    """The record the path names (/torc-service/v1/<kind>/<id>); MISSING once deleted."""
    return w.look(OBSERVER, call.path)


def records_of_workflow(w: World, call: Call) -> Any:
    """Every record of the kind in the workflow the body names."""
    return w.look(OBSERVER, call.path, workflow_id=str(call.json["workflow_id"]))["items"]


def record_rows() -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for kind, body in RECORD_BODIES.items():
        base = f"{TORC}/{kind}"
        rows[f"POST {base}"] = Row(
            WORKFLOW_WRITERS,
            lambda w, base=base, body=body: Call(base, json={**body(w), "workflow_id": w.workflow}),
            probe=records_of_workflow,
        )
        rows[f"GET {base}"] = Row(
            WORKFLOW_READERS,
            lambda w, base=base: Call(base, params={"workflow_id": str(w.workflow)}),
        )
        rows[f"GET {base}/{{id}}"] = Row(
            WORKFLOW_READERS, lambda w, base=base, kind=kind: Call(f"{base}/{new_record(w, kind)}")
        )
        rows[f"DELETE {base}/{{id}}"] = Row(
            WORKFLOW_WRITERS,
            lambda w, base=base, kind=kind: Call(f"{base}/{new_record(w, kind)}"),
            probe=record_at,
        )
        if kind in RECORD_CHANGES:
            rows[f"PUT {base}/{{id}}"] = Row(
                WORKFLOW_WRITERS,
                lambda w, base=base, kind=kind: Call(
                    f"{base}/{new_record(w, kind)}", json=RECORD_CHANGES[kind]
                ),
                probe=record_at,
            )
    return rows


TABLE.update(record_rows())


# -- running a workflow (jobs, claims, results, the execution calls): decided on the job's or
# result's own workflow; reads need workflow.read, the rest workflow.write. Each call that moves
# a job gets a workflow of its own (alice's, shared with team) with the job where the call needs
# it: ready to claim, pending to start, running to complete or retry.
NODE = {"num_cpus": 4, "memory_gb": 8.0, "num_gpus": 0, "num_nodes": 1}


def new_job(w: World, workflow: int | None = None) -> int:
    """A fresh job (`true`) in `workflow`, by default alice's standing shared one."""
    body = {"workflow_id": workflow or w.workflow, "name": w.name("job"), "command": "true"}
    return int(ok(w.client("alice").post(f"{TORC}/jobs", json=body))["id"])


def job_in_state(w: World, state: str) -> tuple[int, int, int]:
    """(workflow, job, compute node) with the job `ready`, `pending` or `running`."""
    alice = w.client("alice")
    workflow = w.new_workflow(shared=True)
    job = new_job(w, workflow)
    ok(alice.post(f"{TORC}/workflows/{workflow}/initialize_jobs"))
    node_body = {
        **NODE,
        "workflow_id": workflow,
        "hostname": w.name("host"),
        "pid": 1,
        "start_time": "2026-01-01T00:00:00Z",
        "compute_node_type": "local",
    }
    node = int(ok(alice.post(f"{TORC}/compute_nodes", json=node_body))["id"])
    if state in ("pending", "running"):
        url = f"{TORC}/workflows/{workflow}/claim_jobs_based_on_resources/1"
        assert [j["id"] for j in ok(alice.post(url, json={**NODE, "id": node}))["jobs"]] == [job]
    if state == "running":
        ok(alice.put(f"{TORC}/jobs/{job}/start_job/1/{node}"))
    return workflow, job, node


def result_of(w: World, workflow: int, job: int, node: int) -> dict[str, Any]:
    return {
        "job_id": job,
        "workflow_id": workflow,
        "run_id": 1,
        "compute_node_id": node,
        "return_code": 0,
        "exec_time_minutes": 0.1,
        "completion_time": "2026-01-01T00:00:01.000Z",
        "status": "completed",
    }


def new_result(w: World) -> int:
    workflow, job, node = job_in_state(w, "running")
    body = result_of(w, workflow, job, node)
    ok(w.client("alice").post(f"{TORC}/jobs/{job}/complete_job/completed/1", json=body))
    listed = ok(w.client("alice").get(f"{TORC}/results", params={"workflow_id": str(workflow)}))
    return int(listed["items"][0]["id"])


def fresh_workflow_with_a_job(w: World) -> int:
    workflow = w.new_workflow(shared=True)
    new_job(w, workflow)
    return workflow


def jobs_of(w: World, workflow: int) -> Any:
    return w.look(OBSERVER, f"{TORC}/jobs", workflow_id=str(workflow))["items"]


def jobs_named(w: World, call: Call) -> Any:
    """The jobs of the workflow the body names (or its first job names)."""
    body = call.json["jobs"][0] if "jobs" in call.json else call.json
    return jobs_of(w, body["workflow_id"])


def run_of(w: World, call: Call) -> Any:
    """The jobs and run state of the workflow the path names."""
    found = re.search(r"/workflows/(\d+)", call.path)
    assert found is not None, call.path
    workflow = int(found[1])
    return jobs_of(w, workflow), w.look(OBSERVER, f"{TORC}/workflows/{workflow}/status")


def job_at(w: World, call: Call) -> Any:
    """The job the path names (/jobs/<id>/…), with its results."""
    job = w.look(OBSERVER, "/".join(call.path.split("/")[:5]))
    if job == MISSING:
        return job
    results = w.look(OBSERVER, f"{TORC}/results", workflow_id=str(job["workflow_id"]))
    return job, results["items"]


def start_job(w: World) -> Call:
    _, job, node = job_in_state(w, "pending")
    return Call(f"{TORC}/jobs/{job}/start_job/1/{node}")


def complete_job(w: World) -> Call:
    workflow, job, node = job_in_state(w, "running")
    body = result_of(w, workflow, job, node)
    return Call(f"{TORC}/jobs/{job}/complete_job/completed/1", json=body)


def batch_complete(w: World) -> Call:
    workflow, job, node = job_in_state(w, "running")
    body = result_of(w, workflow, job, node)
    entry = {"job_id": job, "status": "completed", "run_id": 1, "result": body}
    return Call(f"{TORC}/workflows/{workflow}/batch_complete_jobs", json={"completions": [entry]})


def batch_start(w: World) -> Call:
    workflow, job, node = job_in_state(w, "pending")
    body = {"run_id": 1, "compute_node_id": node, "job_ids": [job]}
    return Call(f"{TORC}/workflows/{workflow}/batch_start_jobs", json=body)


def release(w: World) -> Call:
    workflow, job, node = job_in_state(w, "pending")
    body = {"compute_node_id": node, "job_ids": [job]}
    return Call(f"{TORC}/workflows/{workflow}/release_jobs", json=body)


def batch_of(w: World, call: Call) -> Any:
    """The jobs, run state and results of the workflow the path names."""
    jobs, run = run_of(w, call)
    workflow = call.json["completions"][0]["result"]["workflow_id"]
    results = w.look(OBSERVER, f"{TORC}/results", workflow_id=str(workflow))
    return jobs, run, results if results == MISSING else results["items"]


def batch_of_path(w: World, call: Call) -> Any:
    """The jobs, run state and results of the workflow the path names."""
    jobs, run = run_of(w, call)
    workflow = re.search(r"/workflows/(\d+)", call.path)
    assert workflow is not None
    results = w.look(OBSERVER, f"{TORC}/results", workflow_id=workflow[1])
    return jobs, run, results if results == MISSING else results["items"]


def retry_job(w: World) -> Call:
    _, job, _ = job_in_state(w, "running")
    return Call(f"{TORC}/jobs/{job}/retry/1", params={"max_retries": "3"})


def claim(w: World, how: str) -> Call:
    workflow, _, _ = job_in_state(w, "ready")
    if how == "next":
        return Call(f"{TORC}/workflows/{workflow}/claim_next_jobs")
    return Call(f"{TORC}/workflows/{workflow}/claim_jobs_based_on_resources/5", json=NODE)


def on_fresh_workflow(call: str) -> Build:
    return lambda w: Call(f"{TORC}/workflows/{fresh_workflow_with_a_job(w)}/{call}")


def on_workflow(call: str) -> Build:
    return lambda w: Call(f"{TORC}/workflows/{w.workflow}/{call}")


def job_rows() -> dict[str, Row]:
    job_body: Build = lambda w: Call(  # noqa: E731
        f"{TORC}/jobs", json={"workflow_id": w.workflow, "name": w.name("job"), "command": "true"}
    )

    def change_job(w: World) -> Call:
        job = new_job(w)
        current = ok(w.client("alice").get(f"{TORC}/jobs/{job}"))
        body = {"workflow_id": w.workflow, "name": current["name"], "command": "echo"}
        return Call(f"{TORC}/jobs/{job}", json=body)

    def bulk(w: World) -> Call:
        job = {"workflow_id": w.workflow, "name": w.name("bulk"), "command": "true"}
        return Call(f"{TORC}/bulk_jobs", json={"jobs": [job]})

    return {
        f"POST {TORC}/jobs": Row(WORKFLOW_WRITERS, job_body, probe=jobs_named),
        f"POST {TORC}/bulk_jobs": Row(WORKFLOW_WRITERS, bulk, probe=jobs_named),
        f"GET {TORC}/jobs": Row(
            WORKFLOW_READERS,
            lambda w: Call(f"{TORC}/jobs", params={"workflow_id": str(w.workflow)}),
        ),
        f"GET {TORC}/jobs/{{id}}": Row(
            WORKFLOW_READERS, lambda w: Call(f"{TORC}/jobs/{new_job(w)}")
        ),
        f"PUT {TORC}/jobs/{{id}}": Row(WORKFLOW_WRITERS, change_job, probe=job_at),
        f"DELETE {TORC}/jobs/{{id}}": Row(
            WORKFLOW_WRITERS, lambda w: Call(f"{TORC}/jobs/{new_job(w)}"), probe=job_at
        ),
        f"GET {TORC}/workflows/{{id}}/job_dependencies": Row(
            WORKFLOW_READERS, on_workflow("job_dependencies")
        ),
        f"GET {TORC}/results": Row(
            WORKFLOW_READERS,
            lambda w: Call(f"{TORC}/results", params={"workflow_id": str(w.workflow)}),
        ),
        f"GET {TORC}/results/{{id}}": Row(
            WORKFLOW_READERS, lambda w: Call(f"{TORC}/results/{new_result(w)}")
        ),
        f"POST {TORC}/workflows/{{id}}/initialize_jobs": Row(
            WORKFLOW_WRITERS, on_fresh_workflow("initialize_jobs"), probe=run_of
        ),
        f"POST {TORC}/workflows/{{id}}/claim_jobs_based_on_resources/{{limit}}": Row(
            WORKFLOW_WRITERS, lambda w: claim(w, "resources"), probe=run_of
        ),
        f"POST {TORC}/workflows/{{id}}/claim_next_jobs": Row(
            WORKFLOW_WRITERS, lambda w: claim(w, "next"), probe=run_of
        ),
        f"PUT {TORC}/jobs/{{id}}/start_job/{{run_id}}/{{compute_node_id}}": Row(
            WORKFLOW_WRITERS, start_job, probe=job_at
        ),
        f"POST {TORC}/jobs/{{id}}/complete_job/{{status}}/{{run_id}}": Row(
            WORKFLOW_WRITERS, complete_job, probe=job_at
        ),
        f"POST {TORC}/workflows/{{id}}/batch_complete_jobs": Row(
            WORKFLOW_WRITERS, batch_complete, probe=batch_of
        ),
        f"POST {TORC}/workflows/{{id}}/batch_start_jobs": Row(
            WORKFLOW_WRITERS, batch_start, probe=run_of
        ),
        f"POST {TORC}/workflows/{{id}}/release_jobs": Row(WORKFLOW_WRITERS, release, probe=run_of),
        f"POST {TORC}/jobs/{{id}}/retry/{{run_id}}": Row(WORKFLOW_WRITERS, retry_job, probe=job_at),
        f"GET {TORC}/workflows/{{id}}/status": Row(WORKFLOW_READERS, on_workflow("status")),
        f"GET {TORC}/workflows/{{id}}/allowed_actions": Row(
            WORKFLOW_READERS, on_workflow("allowed_actions")
        ),
        f"GET {TORC}/workflows/{{id}}/is_complete": Row(
            WORKFLOW_READERS, on_workflow("is_complete")
        ),
        f"GET {TORC}/workflows/{{id}}/is_uninitialized": Row(
            WORKFLOW_READERS, on_workflow("is_uninitialized")
        ),
        f"POST {TORC}/workflows/{{id}}/reset_status": Row(
            WORKFLOW_WRITERS, on_fresh_workflow("reset_status"), probe=run_of
        ),
        f"POST {TORC}/workflows/{{id}}/reset_job_status": Row(
            WORKFLOW_WRITERS, on_fresh_workflow("reset_job_status"), probe=run_of
        ),
        f"PUT {TORC}/workflows/{{id}}/cancel": Row(
            WORKFLOW_WRITERS, on_fresh_workflow("cancel"), probe=run_of
        ),
    }


TABLE.update(job_rows())


# -- runner tokens: minting one for a workflow, or revoking its runner tokens, needs the right to
# run it (workflow.write) and a signed-in caller; what a runner token itself may call is
# tests/api/test_runner_tokens.py (every route, as one more column).
RUNNER_TOKENS: dict[str, str] = {}  # workflow id → a runner token of alice's for it


def standing_runner_token(w: World) -> Call:
    workflow = w.new_workflow(shared=True)
    path = f"{TORC}/workflows/{workflow}/runner_tokens"
    response = w.client("alice").post(path, json={})
    assert response.status_code == 201, response.text
    RUNNER_TOKENS[str(workflow)] = response.json()["token"]
    return Call(path)


def runner_token_works(w: World, call: Call) -> Any:
    """Whether the runner token made for the call's workflow still reads it."""
    workflow = segment(call, 4)
    bearer = {"Authorization": f"Bearer {RUNNER_TOKENS[workflow]}"}
    response = w.client("alice").get(f"{TORC}/workflows/{workflow}", headers=bearer, auth=None)
    return response.status_code


TABLE.update(
    {
        f"POST {TORC}/workflows/{{id}}/runner_tokens": Row(
            {**WORKFLOW_WRITERS, "anonymous": 401},
            lambda w: Call(f"{TORC}/workflows/{w.workflow}/runner_tokens", json={}),
            probe=tokens_issued,
        ),
        f"DELETE {TORC}/workflows/{{id}}/runner_tokens": Row(
            {**WORKFLOW_WRITERS, "anonymous": 401}, standing_runner_token, probe=runner_token_works
        ),
    }
)


# -- runners that went silent: a heartbeat is decided on its compute node's workflow, a repair
# (sync_status) on the workflow in the path; both need workflow.write, as the run calls.
def heartbeat(w: World) -> Call:
    return Call(f"{TORC}/compute_nodes/{new_record(w, 'compute_nodes')}/heartbeat")


def node_of(w: World, call: Call) -> Any:
    """The compute node the path names, with its last heartbeat."""
    return w.look(OBSERVER, call.path.removesuffix("/heartbeat"))


def sync_left_behind(w: World) -> Call:
    """A workflow whose running job's compute node is inactive: a forced sync recovers it."""
    workflow, _, node = job_in_state(w, "running")
    ok(w.client("alice").put(f"{TORC}/compute_nodes/{node}", json={"is_active": False}))
    return Call(f"{TORC}/workflows/{workflow}/sync_status", params={"force": "true"})


TABLE.update(
    {
        f"POST {TORC}/compute_nodes/{{id}}/heartbeat": Row(
            WORKFLOW_WRITERS, heartbeat, probe=node_of
        ),
        f"POST {TORC}/workflows/{{id}}/sync_status": Row(
            WORKFLOW_WRITERS, sync_left_behind, probe=batch_of_path
        ),
    }
)


# -- Slurm allocations: decided on their workflow like the run routes (read to list, write to
# record or change one). Each write gets a fresh workflow of alice's, shared with team.
ALLOCATION = {"group_name": "default", "account": "acct", "num_cpus": 1, "memory_bytes": 1 << 20}


def new_allocation(w: World) -> tuple[int, int]:
    workflow = w.new_workflow(shared=True)
    url = f"{TORC}/workflows/{workflow}/slurm_allocations"
    return workflow, int(ok(w.client("alice").post(url, json=ALLOCATION))["id"])


def allocations_of(w: World, call: Call) -> Any:
    found = re.search(r"/workflows/(\d+)", call.path)
    assert found is not None, call.path
    return w.look(OBSERVER, f"{TORC}/workflows/{found[1]}/slurm_allocations")


def change_allocation(w: World) -> Call:
    workflow, allocation = new_allocation(w)
    path = f"{TORC}/workflows/{workflow}/slurm_allocations/{allocation}"
    return Call(path, json={"state": "running", "slurm_job_id": "42"})


TABLE.update(
    {
        f"POST {TORC}/workflows/{{id}}/slurm_allocations": Row(
            WORKFLOW_WRITERS,
            lambda w: Call(
                f"{TORC}/workflows/{w.new_workflow(shared=True)}/slurm_allocations",
                json={**ALLOCATION, "only_if_none_active": True},
            ),
            probe=allocations_of,
        ),
        f"GET {TORC}/workflows/{{id}}/slurm_allocations": Row(
            WORKFLOW_READERS, on_workflow("slurm_allocations")
        ),
        f"PATCH {TORC}/workflows/{{id}}/slurm_allocations/{{alloc_id}}": Row(
            WORKFLOW_WRITERS, change_allocation, probe=allocations_of
        ),
    }
)


# -- the routes the application serves ----------------------------------------------------------


def served_routes(tmp_path: Path) -> set[str]:
    """`METHOD /path/{param}` for every route of the application (HEAD beside GET left out)."""
    from teamgate.settings import Settings
    from teamgate.web.app import create_app

    app = create_app(Settings(database=str(tmp_path / "routes.db")))
    # Newer FastAPI keeps included routers as nodes; iter_route_contexts flattens them.
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    routes = flatten(app.routes) if flatten is not None else app.routes
    served = set()
    for route in routes:
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)  # {path:unitpath} → {path}
        for method in route.methods or ():
            if not (method == "HEAD" and "GET" in route.methods):
                served.add(f"{method} {path}")
    return served


def test_every_route_is_in_the_table(tmp_path: Path) -> None:
    served = served_routes(tmp_path)
    missing = sorted(served - set(TABLE))
    assert not missing, (
        "routes missing from the authorization table in tests/api/test_authz_matrix.py "
        f"(say who may call them): {missing}"
    )
    stale = sorted(set(TABLE) - served)
    assert not stale, f"the authorization table names routes the server does not have: {stale}"


def test_the_table_names_an_outcome_for_every_caller() -> None:
    for endpoint, row in ROWS.items():
        assert set(row.expect) == set(KINDS), endpoint
        filled = row.build is not None or row.for_caller is not None
        assert filled or "{" not in endpoint, f"{endpoint}: how to fill the path?"


def test_every_write_says_how_to_see_its_target() -> None:
    for endpoint, row in ROWS.items():
        if endpoint.startswith("GET "):
            assert row.probe is None, f"{endpoint}: a read changes nothing to probe"
        else:
            assert row.probe is not None, (
                f"{endpoint}: give it a probe, which reads what the call would change, so that "
                "a refused call can be shown to have changed nothing"
            )


# -- the matrix ------------------------------------------------------------------------------------


def make_worlds(stack: ExitStack, root: Path, sign_in: SignIn) -> dict[str, World]:
    """The world each kind of caller calls: the `require_auth` server's anonymous caller has
    its own."""
    common: dict[str, Any] = {"enforce_access_control": True, **sign_in.settings()}
    # The bad-credentials caller fails often; throttling sign-ins is tested elsewhere.
    server = start_app(stack, root / "server", login_throttle=False, **common)
    strict = start_app(stack, root / "strict", require_auth=True, **common)
    strangers = {"anonymous": server.client(), "bad-credentials": sign_in.bad_credentials(server)}
    made = (
        populate(server, sign_in, strangers, named_callers=True),
        populate(
            strict, sign_in, {"required-auth anonymous": strict.client()}, named_callers=False
        ),
    )
    return {kind: world for world in made for kind in world.callers}


@pytest.fixture(scope="module")
def oidc_sign_in(idp_factory: Callable[..., IdP]) -> SignIn:
    """The OIDC run's IdP, with an account per user of the matrix (<name>@example.com, its
    groups `idp_groups_of`), and an ID token the IdP issued for each (device flow), once per
    module."""
    accounts = [
        {
            "id": user,
            "email": f"{user}@{IDP_DOMAIN}",
            "email_verified": True,
            "name": user,
            "groups": idp_groups_of(user),
        }
        for user in ALL_USERS
    ]
    idp = idp_factory(accounts=accounts, id_token_ttl=ID_TOKEN_TTL)
    tokens = {user: idp.tokens_for(user).id_token for user in ALL_USERS}
    for user, token in tokens.items():  # what the IdP put in them, as the run needs
        claims = unverified_claims(token)
        assert (claims["email"], claims["groups"]) == (f"{user}@{IDP_DOMAIN}", idp_groups_of(user))
    return SignIn(idp.issuer, tokens, forge(tokens["alice"]))


@pytest.fixture(scope="module", params=["password", "oidc"])
def sign_in(request: pytest.FixtureRequest) -> SignIn:
    """Each run of the matrix: htpasswd passwords, then ID tokens of a real IdP."""
    if request.param == "password":
        return PASSWORDS
    found: SignIn = request.getfixturevalue("oidc_sign_in")
    return found


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory, sign_in: SignIn) -> Iterator[dict[str, World]]:
    """Worlds the rows share: each row makes the targets its calls may change."""
    with ExitStack() as stack:
        yield make_worlds(stack, tmp_path_factory.mktemp("authz"), sign_in)


@pytest.fixture
def fresh_worlds(tmp_path: Path, sign_in: SignIn) -> Iterator[dict[str, World]]:
    """Worlds for one row alone."""
    with ExitStack() as stack:
        yield make_worlds(stack, tmp_path, sign_in)


def populate(
    server: App,
    sign_in: SignIn,
    strangers: dict[str, httpx.Client],
    *,
    named_callers: bool,
) -> World:
    """A client per user and per caller (`strangers`: kinds with no or bad credentials;
    `named_callers`: the kinds with a user of their own, and erin's tokens, too); the groups
    of MEMBERSHIPS (in the OIDC run, plain members are left to the IdP's groups claim), alice's
    workflows and unit and a token of hers, the roles of erin, frank and the observer, and of
    operators and blocked."""
    users = {user: sign_in.client(server, user) for user in ALL_USERS}
    callers = {kind: users[user] for kind, user in USER_OF.items()} if named_callers else {}
    callers.update(strangers)
    root, alice = users["root"], users["alice"]

    def new_group(name: str, members: dict[str, str]) -> int:
        group = int(ok(root.post(f"{TORC}/access_groups", json={"name": name}))["id"])
        for user, role in members.items():
            if sign_in.issuer is not None and role == "member":
                continue  # idp_groups_of(user) has the group
            body = {"user_name": sign_in.who(user), "role": role}
            ok(root.post(f"{TORC}/access_groups/{group}/members", json=body))
        return group

    groups = {name: new_group(name, members) for name, members in MEMBERSHIPS.items()}
    group, other = groups["team"], groups["other"]
    levels = {groups[name]: level for name, level in LEVEL_GROUPS.items()}
    operate = "workflow.read,workflow.write,workflow.delete,unit.read,unit.write,unit.lock"
    grants = {
        "erin": f"allow:{operate},unit.delete,workflow.share,unit.share,rbac.manage:*",
        "frank": "deny:*:*",
        OBSERVER: "allow:workflow.read,unit.read:*",
        "operators": "allow:workflow.read,workflow.write,unit.read,unit.write:*",
        "blocked": "deny:*:*",
    }
    for holder, rule in grants.items():
        ok(root.post("/v1/rbac/permissions", json={"id": f"{holder}-rule", "rules": [rule]}))
        ok(root.post("/v1/rbac/roles", json={"id": f"{holder}-role"}))
        body = {"permission_id": f"{holder}-rule"}
        ok(root.post(f"/v1/rbac/roles/{holder}-role/permissions", json=body))
        if holder in ("operators", "blocked"):  # a group's role
            body = {"group": holder, "role_id": f"{holder}-role"}
            ok(root.post("/v1/rbac/groups/assign", json=body))
        else:
            body = {"email": sign_in.who(holder), "role_id": f"{holder}-role"}
            ok(root.post("/v1/rbac/users/assign", json=body))
    world = World(
        server,
        users,
        callers,
        group=group,
        other=other,
        levels=levels,
        workflow=0,
        elsewhere=0,
        unit="team/app",
        token=str(ok(alice.post("/v1/auth/token"))["token"]),
        tokens={},
        sign_in=sign_in,
    )
    world.workflow = world.new_workflow(shared=True)
    world.elsewhere = world.new_workflow(shared=True)
    ok(alice.post("/v1/units", json={"path": world.unit}))
    ok(alice.put(f"/v1/state/{world.unit}", content=state(0)))
    world.share_unit(world.unit, team=True)
    if named_callers:
        for kind in TOKENS:
            secret = world.new_token(kind, world.workflow)
            callers[kind] = server.client(headers={"Authorization": f"Bearer {secret}"})
            world.tokens[kind] = secret
    return world


def send(world: World, kind: str, method: str, call: Call, workflow: int | None) -> httpx.Response:
    """Make `call` as `kind`; a token kind's token is scoped to `workflow` (the call's) where
    its scope is the call's workflow."""
    client = world.callers[kind]
    headers = {}
    if call.own_token and kind in USER_OF:
        token = ok(client.post("/v1/auth/token"))["token"]
        headers["Authorization"] = f"Bearer {token}"
    elif kind in TOKENS:
        target = world.workflow if workflow is None else workflow
        if call.own_token or (kind == WORKFLOW_TOKEN and target != world.workflow):
            headers["Authorization"] = f"Bearer {world.new_token(kind, target)}"
    return client.request(
        method,
        call.path,
        json=call.json,
        content=call.content,
        params=call.params,
        headers=headers,
        auth=None if headers else httpx.USE_CLIENT_DEFAULT,
    )


def outcome(response: httpx.Response) -> int:
    return OK if response.is_success else response.status_code


def refusal_problem(response: httpx.Response) -> str | None:
    """What is wrong with a refusal's form (JSON error body, the realm on 401), if anything."""
    try:
        body = response.json()
    except ValueError:
        return f"not JSON: {response.text[:200]!r}"
    if not isinstance(body, dict) or not {"error", "message"} <= set(body):
        return f"not an error body: {body!r}"
    if response.status_code == 401 and "www-authenticate" not in response.headers:
        return "401 without WWW-Authenticate"
    return None


# The same routes again, with other targets: `METHOD /template [what differs]`.
VARIANTS: dict[str, Row] = {
    # carol administers `other` and can read alice's resources through `team`: neither lets
    # her pass them on (finding 1)
    f"POST {TORC}/workflows/{{id}}/access_groups/{{group_id}} [shared with team, to other]": Row(
        WORKFLOW_SHARERS,
        lambda w: Call(f"{TORC}/workflows/{w.new_workflow(shared=True)}/access_groups/{w.other}"),
        probe=workflow_at,
    ),
    "POST /v1/shares/{path} [shared with team, to other]": Row(
        UNIT_SHARERS,
        lambda w: Call(f"/v1/shares/{w.new_unit()}", json={"group": "other"}),
        probe=unit_at,
    ),
    # a question about oneself (a unit outside every token's scope): no one's data but the
    # caller's own rules; a unit the caller may not read is explained without its owner
    "POST /v1/rbac/test [about oneself]": Row(
        allowed(*NAMED, *TOKENS),
        lambda w: Call("/v1/rbac/test", json={"action": "unit.read", "resource": "outside/x"}),
        probe=nothing_kept,
    ),
    # a unit under the prefix token's prefix (the table's new unit is outside it)
    "POST /v1/units [under the prefix]": Row(
        {**OWN_NEW, PREFIX_TOKEN: OK},
        lambda w: Call("/v1/units", json={"path": f"{PREFIX}/{w.name('new')}"}),
        probe=unit_named,
    ),
    # another user's tokens: a system administrator's business only
    **{
        f"GET {base} [{query}]": Row(ADMIN_ONLY, lambda w, base=base, q=q: Call(base, params=q(w)))
        for base in ("/v1/auth/tokens", f"{TORC}/tokens")
        for query, q in (
            ("another user's", lambda w: {"user": w.who(OBSERVER)}),
            ("everyone's", lambda w: {"all": "true"}),
        )
    },
    **{
        f"DELETE {base}/{{token_id}} [another user's]": Row(
            ADMIN_ONLY,
            lambda w, base=base: Call(f"{base}/{w.new_token_of(OBSERVER)}"),
            probe=token_works,
        )
        for base in ("/v1/auth/tokens", f"{TORC}/tokens")
    },
}
ROWS = {**TABLE, **VARIANTS}
INIT = "POST /v1/rbac/init"  # once per server: its row has servers of its own


def test_variants_name_routes_of_the_table() -> None:
    for variant in VARIANTS:
        assert variant.partition(" [")[0] in TABLE, variant


@pytest.mark.parametrize("endpoint", [endpoint for endpoint in ROWS if endpoint != INIT])
def test_who_may_call(worlds: dict[str, World], endpoint: str) -> None:
    check_row(worlds, endpoint)


def test_who_may_initialise_rbac(fresh_worlds: dict[str, World]) -> None:
    check_row(fresh_worlds, INIT)


def test_the_callers_sign_in_as_their_run_says(worlds: dict[str, World]) -> None:
    """Each named caller is its user, signed in the run's way: in the OIDC run with an ID
    token, its groups from the IdP, system administration through the admin group only; and a
    plain member of `team` has no membership row there (the groups claim is all there is)."""
    world = worlds["owner"]
    oidc = world.sign_in.issuer is not None
    for kind, user in USER_OF.items():
        me = ok(world.callers[kind].get("/v1/auth/me"))
        expected = {
            "user": world.who(user),
            "system_admin": user == "root",
            "auth": "oidc" if oidc else "password",
            "idp_groups": sorted(idp_groups_of(user)) if oidc else [],
        }
        assert {key: me[key] for key in expected} == expected, kind
    listed = ok(world.client("root").get(f"{TORC}/access_groups/{world.group}/members"))
    rows = {m["user_name"] for m in listed["items"]} & {world.who(u) for u in ALL_USERS}
    team = MEMBERSHIPS["team"]
    assert rows == {world.who(u) for u, role in team.items() if not oidc or role == "admin"}


# -- what a scoped token may reach, whatever the rows say ------------------------------------------
# Routes that reach no one's workflow or unit: health and documentation, who the caller is, and
# the user's own tokens (listing them, or ending access, is safe in any scope).
HARMLESS = frozenset(
    {
        "GET /healthz",
        "GET /metrics",
        "GET /openapi.json",
        "GET /docs",
        "GET /docs/oauth2-redirect",
        "GET /redoc",
        f"GET {TORC}/ping",
        f"GET {TORC}/version",
        "GET /v1/auth/me",
        "GET /v1/auth/config",
        f"GET {TORC}/auth/config",
        "GET /v1/rbac/me",
        "GET /v1/auth/tokens",
        f"GET {TORC}/tokens",
        "DELETE /v1/auth/token",
        "DELETE /v1/auth/tokens",
        "DELETE /v1/auth/tokens/{token_id}",
        f"DELETE {TORC}/tokens/{{token_id}}",
    }
)
# What a read-only token may send besides GET: ending tokens, and a question.
READ_ONLY_WRITES = frozenset({route for route in HARMLESS if not route.startswith("GET ")}) | {
    "POST /v1/rbac/test"
}
UNIT_PATH = re.compile(r"/v1/(?:units|state|versions|restore|locks|shares|backend|access)/(.+)")
RECORD_PATH = re.compile(
    rf"{TORC}/(?:jobs|results|files|user_data|resource_requirements|compute_nodes|events)/\d+"
)


def call_workflow(w: World, call: Call) -> int | None:
    """The workflow a call is about: named by its path, its body or its query, or the one of
    the job, record or result its path names; None when it is about no workflow."""
    found = re.search(r"/workflows/(\d+)", call.path)
    if found is not None:
        return int(found[1])
    body = call.json if isinstance(call.json, dict) else {}
    body = body["jobs"][0] if "jobs" in body else body
    named = body.get("workflow_id", call.params.get("workflow_id"))
    if named is not None:
        return int(named)
    record = RECORD_PATH.match(call.path)
    if record is not None:
        return int(w.look(OBSERVER, record[0])["workflow_id"])
    return None


def call_unit(method: str, call: Call) -> str | None:
    """The unit a call is about (its path), or None."""
    if method == "POST" and call.path == "/v1/units":
        return str(call.json["path"])
    found = UNIT_PATH.fullmatch(call.path)
    return None if found is None else found[1]


def beyond_scope(
    w: World, kind: str, endpoint: str, call: Call, workflow: int | None, response: httpx.Response
) -> str | None:
    """How a call that succeeded with the token of `kind` went beyond its scope, if it did:
    a read-only token sent anything but a read (or a question, or ending tokens); a prefix
    token reached anything but a unit under its prefix; a workflow token anything but its
    workflow. Lists may answer, showing only what is in the scope."""
    method, route = endpoint.partition(" [")[0].split(" ", 1)
    route = f"{method} {route}"
    if kind == READ_ONLY_TOKEN:
        if method == "GET" or route in READ_ONLY_WRITES:
            return None
        return "a read-only token's call changed something"
    if route in HARMLESS:
        return None
    if route == "POST /v1/rbac/test" and call.json.get("email") in (None, w.who(TOKEN_USER)):
        return None  # a question about the token's own user's rules, as GET /v1/rbac/me
    prefix = {PREFIX_TOKEN: PREFIX, OTHER_PREFIX_TOKEN: OTHER_PREFIX}.get(kind)
    scope = {WORKFLOW_TOKEN: workflow or w.workflow, OTHER_WORKFLOW_TOKEN: w.elsewhere}.get(kind)
    if route == f"GET {TORC}/workflows":
        shown = {item["id"] for item in response.json()["items"]}
        return None if shown <= {scope} else f"listed workflows {sorted(shown)}"
    if route == "GET /v1/units":
        paths = [unit["path"] for unit in response.json()["units"]]
        outside = [p for p in paths if prefix is None or not under(p, prefix)]
        return f"listed units {outside}" if outside else None
    if prefix is not None:
        unit = call_unit(method, call)
        if unit is not None and under(unit, prefix):
            return None
        return f"reached {unit or 'what is not a unit'}, outside the units under '{prefix}'"
    assert scope is not None, kind
    if route.startswith(f"{method} {TORC}/") and workflow == scope:
        return None
    return f"reached {call.path}, outside workflow {scope}"


def under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def check_row(worlds: dict[str, World], endpoint: str) -> None:
    """Call the row's route as every kind of caller; compare outcomes, refusals' form and,
    for refusals, the target before and after."""
    row = ROWS[endpoint]
    method, template = endpoint.partition(" [")[0].split(" ", 1)
    got: Expect = {}
    problems: list[str] = []
    for kind in KINDS:
        world = worlds[kind]
        if row.for_caller is not None:
            call = row.for_caller(world, USER_OF.get(kind, TOKEN_USER if kind in TOKENS else None))
        else:
            call = row.build(world) if row.build is not None else Call(template)
        workflow = call_workflow(world, call) if kind in TOKENS else None
        refused = row.expect[kind] != OK
        before = row.probe(world, call) if row.probe is not None and refused else None
        response = send(world, kind, method, call, workflow)
        got[kind] = outcome(response)
        if kind in TOKENS and got[kind] == OK:
            beyond = beyond_scope(world, kind, endpoint, call, workflow, response)
            if beyond is not None:
                problems.append(f"{kind}: {beyond}")
        if got[kind] != OK:
            problem = refusal_problem(response)
            if problem is not None:
                problems.append(f"{kind}: {response.status_code} {problem}")
        if got[kind] != row.expect[kind]:
            problems.append(
                f"{kind}: expected {row.expect[kind]}, got {response.status_code} "
                f"{response.text[:300]}"
            )
        if row.probe is not None and refused:
            change = changed(row.probe, world, call, before)
            if change is not None:
                problems.append(f"{kind}: {response.status_code}, but {change}")
    assert got == row.expect and not problems, "\n".join([endpoint, *problems])


def changed(probe: Probe, world: World, call: Call, before: Any) -> str | None:
    """How the call's target differs from `before`, if it does."""
    try:
        after = probe(world, call)
    except AssertionError as exc:  # the target is no longer there to read
        return f"the target can no longer be read: {str(exc)[:300]}"
    if after == before:
        return None
    return f"the target changed: {difference(before, after)[:600]}"


def difference(before: Any, after: Any) -> str:
    """What differs between two JSON values: the keys that changed, the items that went or
    came."""
    if isinstance(before, dict) and isinstance(after, dict):
        keys = sorted(before.keys() | after.keys())
        return "; ".join(
            f"{key}: {difference(before.get(key), after.get(key))}"
            for key in keys
            if before.get(key) != after.get(key)
        )
    if isinstance(before, list) and isinstance(after, list):
        gone = [item for item in before if item not in after]
        came = [item for item in after if item not in before]
        changes = [f"{what} {items}" for what, items in (("gone", gone), ("new", came)) if items]
        return ", ".join(changes) or "the same items in another order"
    return f"{before!r} → {after!r}"
