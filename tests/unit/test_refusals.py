"""How many refused sign-ins reach the audit log (services.refusals), with a hand-driven clock."""

from __future__ import annotations

from teamgate.services.refusals import RefusalLimiter, left_out_note


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_row_per_client_user_and_scheme_per_window_then_the_count() -> None:
    clock = Clock()
    limiter = RefusalLimiter(window_secs=60, clock=clock)
    assert limiter.admit("10.0.0.1", "bob", "basic") == 0  # recorded
    assert [limiter.admit("10.0.0.1", "bob", "basic") for _ in range(2999)] == [None] * 2999
    assert limiter.admit("10.0.0.2", "bob", "basic") == 0  # another client
    assert limiter.admit("10.0.0.1", None, "bearer") == 2999  # another key: says what was left
    assert limiter.admit("10.0.0.1", None, "bearer") is None
    clock.now += 60  # the window closes: the next refusal is recorded with the count
    assert limiter.admit("10.0.0.1", "bob", "basic") == 1
    assert limiter.admit("10.0.0.1", "bob", "basic") is None


def test_many_user_names_from_one_client_are_capped() -> None:
    clock = Clock()
    limiter = RefusalLimiter(window_secs=60, rows_per_client=20, clock=clock)
    recorded = [limiter.admit("10.0.0.1", f"user{n}", "basic") for n in range(1000)]
    assert sum(r is not None for r in recorded) == 20
    assert limiter.admit("10.0.0.9", "user1", "basic") == 0  # other clients are not affected
    clock.now += 61
    assert limiter.admit("10.0.0.1", "user5", "basic") == 980


def test_the_tables_stay_bounded() -> None:
    limiter = RefusalLimiter(max_entries=100, clock=Clock())
    for n in range(1000):
        limiter.admit(f"10.0.{n // 250}.{n % 250}", f"u{n}", "basic")
    assert len(limiter._clients) <= 100 and len(limiter._keys) <= 100


def test_the_note_counts() -> None:
    assert left_out_note(1).startswith("1 more refusal from this client")
    assert left_out_note(5).startswith("5 more refusals")
