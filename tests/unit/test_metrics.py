"""The decisions counter's labels: a fixed set of values, whatever a decision carries. The
README names the metrics and labels the server has, and every one of them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from teamgate.domain.actions import DecidedBy
from teamgate.domain.policy import Decision
from teamgate.web.metrics import DECIDED_BY, DECISION_ACTIONS, OTHER_ACTION, Metrics

README = Path(__file__).parents[2] / "README.md"
# `name` or `name{label,label="value|value"}` in the README's text
NAMED_METRIC = re.compile(r"`(teamgate_\w+)(?:\{([^}]*)\})?`")


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


def collectors(metrics: Metrics) -> dict[str, MetricWrapperBase]:
    """The server's metrics by the name they are exposed and documented under."""
    found = {}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            family = value.describe()[0]
            found[family.name + ("_total" if family.type == "counter" else "")] = value
    return found


def test_every_metric_and_label_the_readme_names_exists() -> None:
    metrics = Metrics()
    known = collectors(metrics)
    samples = [
        sample
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for sample in family.samples
    ]
    named = NAMED_METRIC.findall(README.read_text())
    assert named
    for name, labels in named:
        assert name in known, f"README names {name}, which the server does not have"
        if not labels:
            continue
        pairs = [label.partition("=") for label in labels.split(",")]
        try:  # .labels() raises unless these are exactly the metric's label names
            known[name].labels(**{label: "x" for label, _, _ in pairs})
        except ValueError:
            pytest.fail(f"README gives {name} the labels {{{labels}}}, which it does not have")
        for label, _, values in pairs:
            for value in values.strip('"').split("|") if values else []:
                assert any(s.labels.get(label) == value for s in samples), f"{name} {label}={value}"


def test_the_readme_names_every_metric() -> None:
    text = README.read_text()
    for name in collectors(Metrics()):
        assert f"`{name}" in text, f"README does not document {name}"
