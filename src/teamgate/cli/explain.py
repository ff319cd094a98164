"""The path to an access decision as text, for `torc access explain` and `taco rbac test`.

Both print the `steps` the server computed (domain.explanations), one `mark check: detail` line
each, so the two CLIs show the same engine's reasoning the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

GRANTED, REFUSED, PASSED = "✓", "✗", "·"


def mark(step: Mapping[str, Any]) -> str:
    """✓ the check found grounds to allow, ✗ a deny rule matched, · nothing found here."""
    if not step.get("matched"):
        return PASSED
    return REFUSED if step.get("check") == "deny rules" else GRANTED


def step_lines(steps: Iterable[Mapping[str, Any]], *, indent: str = "  ") -> list[str]:
    """One `  ✓ groups: …` line per check, in the order the server made them."""
    return [f"{indent}{mark(s)} {s.get('check')}: {s.get('detail')}" for s in steps]


def decision_line(result: Mapping[str, Any]) -> str:
    """`Decision: allowed (owner)`; a denial adds what the user is told."""
    verdict = "allowed" if result.get("allowed") else "denied"
    line = f"Decision: {verdict} ({result.get('reason')})"
    message = result.get("message")
    return f"{line}: {message}" if message and not result.get("allowed") else line
