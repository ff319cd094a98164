"""Slurm time limits: what an allocation asks for, and when its runner must be done."""

from __future__ import annotations

import pytest

from teamgate.runner.slurm import (
    END_MARGIN_SECS,
    START_MARGIN_SECS,
    allocation_end,
    group_of,
    slurm_seconds,
    slurm_time,
)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(1, "0-00:01:00"), (60, "0-00:01:00"), (61, "0-00:02:00"), (90_000, "1-01:00:00")],
)
def test_slurm_time_rounds_up_to_minutes_and_reads_back(seconds: int, text: str) -> None:
    assert slurm_time(seconds) == text
    assert seconds <= slurm_seconds(text) < seconds + 60


def test_an_allocation_asks_for_its_runtime_and_a_start_margin() -> None:
    group = group_of({"id": 4, "name": "big", "num_cpus": 2, "memory": "2g", "runtime": "PT10M"}, 3)
    assert group.time_limit == slurm_time(600 + START_MARGIN_SECS) == "0-00:11:00"
    assert group_of({"id": 5, "name": "any"}, 1).time_limit is None  # the partition's default


def test_the_runner_ends_before_its_allocation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLURM_JOB_END_TIME", raising=False)
    assert allocation_end("0-00:11:00", 1000.0) == 1000 + 660 - END_MARGIN_SECS
    assert allocation_end(None, 1000.0) is None
    monkeypatch.setenv("SLURM_JOB_END_TIME", "5000")  # Slurm's own word wins
    assert allocation_end("0-00:11:00", 1000.0) == 5000 - END_MARGIN_SECS
