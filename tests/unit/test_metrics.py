"""The decisions counter's labels: a fixed set of values, whatever a decision carries."""

from __future__ import annotations

from pathlib import Path

from teamgate.domain.actions import DecidedBy
from teamgate.domain.policy import Decision
from teamgate.web.metrics import DECIDED_BY, DECISION_ACTIONS, OTHER_ACTION, Metrics

README = Path(__file__).parents[2] / "README.md"


def count(metrics: Metrics, action: str, result: str, decided_by: str) -> float | None:
    labels = {"action": action, "result": result, "decided_by": decided_by}
    return metrics.registry.get_sample_value("teamgate_access_decisions_total", labels)


def test_decisions_are_counted_by_action_result_and_what_decided() -> None:
    metrics = Metrics()
    owner = DecidedBy.OWNER
    metrics.decision(Decision(True, "owner", action="unit.write", decided_by=owner))
    metrics.decision(Decision(True, "owner", action="unit.write", decided_by=owner))
    # the typed value counts, whatever the reason's words
    refused = Decision(
        False, "owner? no", "no", action="system.admin", decided_by=DecidedBy.NOT_ADMIN
    )
    metrics.decision(refused)
    assert count(metrics, "unit.write", "allowed", "owner") == 2
    assert count(metrics, "system.admin", "denied", "not_admin") == 1
    assert count(metrics, "unit.write", "denied", "owner") is None


def test_actions_outside_the_known_set_count_as_other() -> None:
    metrics = Metrics()
    made_up = Decision(False, "", "no", action="made.up.by.a.caller", decided_by=DecidedBy.NO_GRANT)
    metrics.decision(made_up)
    metrics.decision(Decision(True, "own token"))  # made by hand, without an action
    assert count(metrics, "other", "denied", "no_grant") == 1
    assert count(metrics, "other", "allowed", "other") == 1
    assert "made.up" not in metrics.exposition().decode()


def test_the_readme_names_every_action_label() -> None:
    text = README.read_text()
    entry = text[text.index("- `teamgate_access_decisions_total{") :]
    entry = entry[: entry.index("\n- ")]
    for action in sorted(DECISION_ACTIONS | {OTHER_ACTION}):
        assert f"`{action}`" in entry, f"README's metrics section does not name {action}"
    for by in sorted(DECIDED_BY):
        assert f"`{by}`" in entry, f"README's metrics section does not name decided_by {by}"
