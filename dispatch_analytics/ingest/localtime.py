"""Local wall-clock times -> UTC, vectorised, with DST gaps and overlaps made explicit.

For a zone, the UTC offset is constant between transitions. In local time each offset
regime ``i`` covers ``[T_i + o_i, T_{i+1} + o_i)``; after a spring-forward change the
local times between two regimes exist in none (a gap), after a fall-back change they
exist in two (an overlap). For each local time we find the earliest and the latest regime
holding it with two binary searches, which is much faster than per-value zone lookups.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

__all__ = ["localize", "transitions"]

_US = 1_000_000
_UTC_TS = pl.Datetime("us", "UTC")


def _offset_s(tz: ZoneInfo, ts: int) -> int:
    off = datetime.fromtimestamp(ts, UTC).astimezone(tz).utcoffset()
    assert off is not None  # an aware datetime (in tz) always has an offset
    return int(off.total_seconds())


@lru_cache(maxsize=256)
def _year_transitions(zone: str, year: int) -> tuple[tuple[int, int], ...]:
    """(UTC second of change, offset after it) for one calendar year (hourly scan + bisect)."""
    tz = ZoneInfo(zone)
    start = int(datetime(year, 1, 1, tzinfo=UTC).timestamp()) - 86400
    end = int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp()) + 86400
    out = []
    prev = _offset_s(tz, start)
    for t in range(start + 3600, end + 1, 3600):
        cur = _offset_s(tz, t)
        if cur != prev:
            lo, hi = t - 3600, t  # offset(lo) == prev, offset(hi) == cur
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset_s(tz, mid) == prev:
                    lo = mid
                else:
                    hi = mid
            out.append((hi, cur))
            prev = cur
    return tuple(out)


@lru_cache(maxsize=256)
def transitions(zone: str, first_year: int, last_year: int) -> tuple[np.ndarray, np.ndarray]:
    """Regime start instants (UTC seconds; the first is -inf) and their offsets (seconds).

    Cached (read-only arrays): ingest asks for the same zone and years for every time
    column of every chunk."""
    tz = ZoneInfo(zone)
    pts: dict[int, int] = {}
    for y in range(first_year, last_year + 1):
        for t, off in _year_transitions(zone, y):
            pts[t] = off
    times = sorted(pts)
    first_off = _offset_s(tz, int(datetime(first_year, 1, 1, tzinfo=UTC).timestamp()) - 86400)
    starts = np.array([np.iinfo(np.int64).min // 4, *times], dtype=np.int64)
    offsets = np.array([first_off, *[pts[t] for t in times]], dtype=np.int64)
    starts.setflags(write=False)
    offsets.setflags(write=False)
    return starts, offsets


def localize(naive: pl.Series, zone: str) -> tuple[pl.Series, pl.Series]:
    """Read naive local datetimes in ``zone``.

    Parameters
    ----------
    naive : polars.Series
        ``Datetime`` without a time zone (any unit).
    zone : str
        IANA zone name.

    Returns
    -------
    early, late : polars.Series
        UTC datetimes (``Datetime('us', 'UTC')``). They differ only for local times in a
        fall-back overlap (``early`` is the first occurrence). Both are null for local
        times inside a spring-forward gap and for null input.
    """
    name = naive.name
    loc = naive.cast(pl.Datetime("us")).cast(pl.Int64)
    valid = loc.is_not_null()
    if not valid.any():
        empty = pl.Series(name, [None] * len(naive), dtype=_UTC_TS)
        return empty, empty
    lo_us, hi_us = loc.min(), loc.max()
    assert isinstance(lo_us, int) and isinstance(hi_us, int)  # Int64 with a non-null value
    y0 = (datetime(1970, 1, 1) + timedelta(microseconds=lo_us)).year - 1
    y1 = (datetime(1970, 1, 1) + timedelta(microseconds=hi_us)).year + 1
    t_s, off_s = transitions(zone, y0, y1)
    arr = loc.fill_null(0).to_numpy()
    big = np.iinfo(np.int64).max // 4
    t_us = t_s * _US
    o_us = off_s * _US
    starts_local = t_us + o_us  # first local time of each regime
    starts_local[0] = t_us[0]
    ends_local = np.append(t_us[1:], big) + o_us  # first local time after each regime
    idx_late = np.searchsorted(starts_local, arr, side="right") - 1
    idx_early = np.minimum(np.searchsorted(ends_local, arr, side="right"), len(o_us) - 1)
    gap = idx_early > idx_late
    ok = pl.Series(valid.to_numpy() & ~gap)
    early = arr - o_us[idx_early]
    late = arr - o_us[np.maximum(idx_late, 0)]
    return _utc(early, ok, name), _utc(late, ok, name)


def _utc(us: np.ndarray, ok: pl.Series, name: str) -> pl.Series:
    return (
        pl.select(pl.when(ok).then(pl.Series(us)))
        .to_series()
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone("UTC")
        .alias(name)
    )
