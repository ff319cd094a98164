"""Who can reach a workflow or unit, as text: `torc access who` and `taco unit access`.

Both print the server's answer (services.reach) the same way: the groups it is shared with
and their levels, the users who can reach it and what allows them, the deny rules that take
actions away, and what system administrators may do as such.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from teamgate.cli.output import counted, render_table


def short(action: str) -> str:
    """`workflow.read` → `read`: the table is about one resource, its kind is known."""
    return action.partition(".")[2] or action


def _actions(actions: Sequence[str]) -> str:
    return ", ".join(short(a) for a in actions) or "-"


def _via(via: Sequence[Mapping[str, Any]]) -> str:
    """The reasons, once each: `owner`, or `read: group 'x' (read); write: rule …`."""
    by_reason: dict[str, list[str]] = {}
    for allowed in via:
        by_reason.setdefault(str(allowed["reason"]), []).append(str(allowed["action"]))
    if len(by_reason) == 1:
        return next(iter(by_reason))
    return "; ".join(f"{_actions(acts)}: {reason}" for reason, acts in by_reason.items())


def _rule(reason: str) -> str:
    """`explicit deny by rule …` → `rule …`: the column says it is a deny."""
    return reason.removeprefix("explicit deny by ")


def reach_text(result: Mapping[str, Any]) -> str:
    resource = result["resource"]
    what = "Workflow" if resource["kind"] == "workflow" else "Unit"
    title = f"{what} {resource['id']}"
    if resource["name"] != resource["id"]:
        title += f" ({resource['name']})"
    lines = [f"{title}, owned by {result.get('owner') or 'nobody'}"]
    if not result.get("access_control", True):
        lines.append(
            "Note: access control is off on this server: every user may do everything. "
            "Below is who could with it on."
        )
    groups = result.get("groups") or []
    if groups:
        lines.append("Shared with:")
        rows = [(g["name"], g["level"], g["members"], _actions(g["actions"])) for g in groups]
        lines.append(render_table(("GROUP", "LEVEL", "MEMBERS", "ALLOWS"), rows))
    else:
        lines.append("Shared with no group.")
    users = result.get("users") or []
    reaching = [u for u in users if u["actions"]]
    if reaching:
        lines.append("Who can reach it:")
        table = [(u["user"], _actions(u["actions"]), _via(u["via"])) for u in reaching]
        lines.append(render_table(("USER", "ALLOWS", "VIA"), table))
    else:
        lines.append("Nobody can reach it.")
    blocked = [(u["user"], b) for u in users for b in u.get("blocked") or []]
    if blocked:
        lines.append("Blocked by deny rules:")
        denied = [
            (user, short(b["action"]), _rule(b["rule"]), b["overrides"]) for user, b in blocked
        ]
        lines.append(render_table(("USER", "ACTION", "DENIED BY", "WOULD BE ALLOWED BY"), denied))
    administrators = result.get("administrators") or []
    if administrators:
        held = "; ".join(f"{a['user']}: {_actions(a['actions'])}" for a in administrators)
        lines.append(f"System administrators, as such: {held}")
    checked = counted(int(result.get("candidates", 0)), "user")
    lines.append(
        f"{checked} checked (owner, group members, holders of RBAC roles, administrators)."
    )
    if result.get("truncated"):
        lines.append(
            "Warning: more users hold roles or share groups than the server checks at once; "
            "some users who can reach it may be missing."
        )
    return "\n".join(lines)
