"""The console's small pure helpers: times, durations, where sign-in may send the viewer."""

from __future__ import annotations

import pytest

from teamgate.web.ui.render import clamp_page, duration, when
from teamgate.web.ui.sign_in import HOME, safe_next


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("2026-12-07T17:07:04.123Z", "2026-12-07 17:07:04 UTC"),
        ("2026-12-07T18:07:04+01:00", "2026-12-07 17:07:04 UTC"),
        ("2026-12-07T17:07:04", "2026-12-07 17:07:04 UTC"),  # naive: stored as UTC
        (1796663224.0, "2026-12-07 17:07:04 UTC"),
    ],
)
def test_times_are_utc_text_with_a_machine_readable_datetime(value: object, shown: str) -> None:
    html = str(when(value))  # type: ignore[arg-type]
    assert html == f'<time datetime="2026-12-07T17:07:04+00:00" title="{shown}">{shown}</time>'


def test_a_time_that_is_not_one_is_shown_escaped() -> None:
    assert str(when("<b>never</b>")) == "<span>&lt;b&gt;never&lt;/b&gt;</span>"
    assert str(when(None)) == "—"


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, "—"), (1.25, "1.2 s"), (125, "2 min 5 s"), (7500, "2 h 5 min")]
)
def test_durations(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text


@pytest.mark.parametrize(
    ("target", "goes"),
    [
        ("/ui/workflows/3", "/ui/workflows/3"),
        ("/ui/units/a/b?x=1", "/ui/units/a/b?x=1"),
        (None, HOME),
        ("", HOME),
        ("https://evil.example/ui/", HOME),
        ("//evil.example/ui/", HOME),
        ("/ui//evil.example", HOME),
        ("/ui/\\evil.example", HOME),
        ("/ui/x\r\nSet-Cookie: a=b", HOME),
        ("/torc-service/v1/workflows", HOME),
        ("/ui/sign-out", HOME),
    ],
)
def test_sign_in_goes_back_only_to_console_pages(target: str | None, goes: str) -> None:
    assert safe_next(target) == goes


def test_pages_are_clamped_not_refused() -> None:
    assert clamp_page(-5, 0) == (0, 1)
    assert clamp_page(10, 10**9) == (10, 500)
