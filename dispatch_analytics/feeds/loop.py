"""Running a watcher: one cycle every ``interval_s`` seconds until stopped.

:func:`run` is what ``dispatch watch`` calls. A stop request (Ctrl-C, SIGTERM) between or
during cycles ends the loop cleanly: a batch is published by one rename and the state is
saved after it, so an interrupted cycle leaves the store and the state consistent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from ..errors import FeedError
from .state import CycleReport

__all__ = ["Watch", "run"]


class Watch(Protocol):
    """What :func:`run` needs of a watcher (:class:`FolderWatch`, :class:`DatabaseWatch`)."""

    name: str
    kind: str

    def cycle(self) -> CycleReport: ...

    def record_failure(self, message: str) -> None: ...


def run(
    watch: Watch,
    interval_s: float = 30.0,
    once: bool = False,
    on_cycle: Callable[[CycleReport], None] | None = None,
    max_cycles: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[CycleReport]:
    """Run ``watch.cycle()`` every ``interval_s`` seconds (from cycle start to cycle start).

    Parameters
    ----------
    watch : Watch
    interval_s : float
        Seconds between the starts of two cycles (> 0).
    once : bool
        One cycle, then return (for cron).
    on_cycle : callable, optional
        Called with each cycle's report (the CLI prints the log line).
    max_cycles : int, optional
        Stop after this many cycles (tests; None: until interrupted).
    sleep : callable
        ``time.sleep`` (tests pass a fake clock).

    Returns
    -------
    list of CycleReport
        One per cycle run (a cycle that failed as a whole is reported with its error).

    Raises
    ------
    FeedError
        The first cycle failed as a whole (unreachable server, bad query, missing folder):
        a watcher that cannot start says so at once. Later failed cycles are reported and
        retried at the next interval.
    KeyboardInterrupt
        Passed on to the caller, which stops cleanly.
    """
    if not interval_s > 0:
        raise FeedError(f"`--interval-s` must be > 0 seconds, got {interval_s}")
    reports: list[CycleReport] = []
    while True:
        t0 = time.monotonic()
        try:
            rep = watch.cycle()
        except FeedError as exc:
            watch.record_failure(str(exc))
            if not reports or once:
                raise
            rep = CycleReport(feed=watch.name, kind=watch.kind, errors=[str(exc)])
            rep.seconds = time.monotonic() - t0
        reports.append(rep)
        if on_cycle is not None:
            on_cycle(rep)
        if once or (max_cycles is not None and len(reports) >= max_cycles):
            return reports
        sleep(max(0.0, interval_s - (time.monotonic() - t0)))
