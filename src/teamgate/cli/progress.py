"""Progress on the terminal: a byte bar for state transfers, a running count for long lists.

Shown on stderr only when it is a terminal and the command prints text (not with `-o json` or
`--quiet`), and only once the work is long enough to be worth it. Uses click's progress bar, so
nothing beyond click is imported.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Self, TypeVar

import click

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

T = TypeVar("T")

MIN_BYTES = 1 << 20  # a smaller transfer is over before a bar would tell anything
REFRESH = 0.1  # seconds between redraws: each one is a write to the terminal


def wanted(*, quiet: bool = False, json: bool = False) -> bool:
    """Whether a command should show progress: on a terminal, for text output, unless quiet."""
    return not quiet and not json and sys.stderr.isatty()


def size_text(size: float) -> str:
    """`512 B`, `3.2 KiB`, `12.0 MiB`, `1.5 GiB`."""
    if size < 1024:
        return f"{size:.0f} B"
    for unit in ("KiB", "MiB"):
        size /= 1024
        if size < 1024:
            return f"{size:.1f} {unit}"
    return f"{size / 1024:.1f} GiB"


class Transfer:
    """A byte bar for one upload or download; pass it to the client as `progress`.

    Called with (bytes so far, total when known). The bar appears once the total (given here
    or by the client) or the bytes so far reach MIN_BYTES, and shows percentage, ETA, bytes and
    rate. Create one only when `wanted()`.
    """

    def __init__(self, label: str, *, total: int | None = None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self._bar: ProgressBar[str] | None = None
        self._started = time.monotonic()
        self._drawn = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        self.done = done
        self.total = total if total is not None else self.total
        now = time.monotonic()
        if now - self._drawn < REFRESH and done != self.total:
            return
        if self._bar is None and max(done, self.total or 0) < MIN_BYTES:
            return
        self._drawn = now
        self._draw()

    def _draw(self) -> None:
        if self._bar is None:
            self._bar = click.progressbar(
                length=self.total,
                label=self.label,
                file=sys.stderr,
                item_show_func=lambda _item: self._info(),
                width=30,
            )
            self._bar.__enter__()
        self._bar.update(self.done - self._bar.pos)

    def _info(self) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-6)
        amount = size_text(self.done)
        if self.total is not None:
            amount += f"/{size_text(self.total)}"
        return f"{amount}  {size_text(self.done / elapsed)}/s"

    def close(self) -> None:
        """Draw the final state and end the bar's line (if a bar was shown)."""
        if self._bar is not None:
            self._draw()
            self._bar.__exit__(None, None, None)
            self._bar = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()


@contextmanager
def transfer(label: str, *, show: bool, total: int | None = None) -> Iterator[Transfer | None]:
    """A `Transfer` bar to pass to the client as `progress`; None when not `show`n, so that
    nothing is spent on it."""
    if not show:
        yield None
        return
    with Transfer(label, total=total) as bar:
        yield bar


def counting(items: Iterable[T], label: str, *, enabled: bool, after: int = 0) -> Iterator[T]:
    """Yield `items`, showing `label: N` on stderr once more than `after` have come.

    The line is cleared when the items end, so the command's own output follows cleanly.
    """
    if not enabled:
        yield from items
        return
    count, shown, drawn = 0, False, 0.0
    try:
        for item in items:
            yield item
            count += 1
            now = time.monotonic()
            if count > after and now - drawn >= REFRESH:
                sys.stderr.write(f"\r{label}: {count:,}")
                sys.stderr.flush()
                shown, drawn = True, now
    finally:
        if shown:
            sys.stderr.write("\r\033[K")  # back to the line's start and clear it
            sys.stderr.flush()
