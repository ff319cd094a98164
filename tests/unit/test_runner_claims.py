"""The runner's local queue (runner.claims): how much it claims ahead, that a repeated claim's
jobs the runner has are skipped, and that a claim bringing nothing is not asked again at once."""

from __future__ import annotations

from teamgate.runner.calls import Claimed, Completed, Started
from teamgate.runner.claims import MAX_AHEAD, LocalQueue

OFFER = {"num_cpus": 2, "memory_gb": 1.0, "num_gpus": 0, "num_nodes": 1, "id": 7}


def job(job_id: int) -> dict[str, object]:
    return {"id": job_id, "name": f"j{job_id}", "command": "true"}


def test_long_jobs_get_no_more_than_the_free_slots() -> None:
    queue = LocalQueue(poll_interval=1.0)
    claim = queue.want(2, OFFER)
    assert claim is not None and claim.limit == 2 and claim.offer["id"] == 7
    assert queue.want(2, OFFER) is None  # one claim at a time
    queue.take(Claimed([job(1), job(2)]))
    assert queue.want(0, OFFER) is None  # full: nothing finishes fast enough to queue more


def test_quick_jobs_are_claimed_ahead_within_a_bound() -> None:
    queue = LocalQueue(poll_interval=1.0)
    for _ in range(100):  # 100 jobs ended within the last second
        queue.finished()
    claim = queue.want(0, OFFER)
    assert claim is not None and claim.limit == 25  # a quarter second of work
    fast = LocalQueue(poll_interval=1.0)
    for _ in range(MAX_AHEAD * 10):
        fast.finished()
    claim = fast.want(2, OFFER)
    assert claim is not None and claim.limit == 2 + MAX_AHEAD


def test_a_job_the_runner_has_is_skipped_until_its_completion_is_answered() -> None:
    queue = LocalQueue(poll_interval=1.0)
    queue.want(2, OFFER)
    assert queue.take(Claimed([job(1), job(2)]))
    queue.started(1)
    queue.started(2)
    queue.take(Started(2))
    # a claim answered before job 1's completion still lists it (claimed then): skipped
    queue.claiming = True
    assert queue.take(Claimed([job(1), job(3)]))
    assert list(queue.jobs) == [3]
    queue.take(Completed([1]))
    queue.claiming = True
    queue.take(Claimed([job(1)]))  # job 1 after its completion was answered: a new attempt
    assert list(queue.jobs) == [3, 1]


def test_a_claim_that_brings_nothing_waits_for_a_completion_or_the_poll_interval() -> None:
    queue = LocalQueue(poll_interval=60.0)
    queue.want(2, OFFER)
    assert not queue.take(Claimed([]))
    assert queue.want(2, OFFER) is None
    queue.take(Completed([5]))  # a completion may have readied dependents
    assert queue.want(2, OFFER) is not None
