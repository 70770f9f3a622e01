"""Time-zone arithmetic of the sample city: exact UTC offsets and the incident period."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

import numpy as np

from .constants import TIMEZONE

__all__ = ["_ZoneTable", "_Period", "_period"]


class _ZoneTable:
    """UTC offsets of a zone between two instants, vectorised (exact transition seconds)."""

    def __init__(self, zone: zoneinfo.ZoneInfo, t_lo: int, t_hi: int):
        def offset(t: int | np.integer) -> int:
            off = dt.datetime.fromtimestamp(int(t), tz=zone).utcoffset()
            assert off is not None  # an aware datetime (tz=zone) always has an offset
            return int(off.total_seconds())

        hours = np.arange(t_lo - t_lo % 3600, t_hi + 3600, 3600, dtype=np.int64)
        offs = np.array([offset(h) for h in hours], dtype=np.int64)
        trans, after = [], []
        for k in np.nonzero(offs[1:] != offs[:-1])[0]:
            lo, hi = int(hours[k]), int(hours[k + 1])  # offset(lo) = old, offset(hi) = new
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if offset(mid) == offs[k]:
                    lo = mid
                else:
                    hi = mid
            trans.append(hi)
            after.append(int(offs[k + 1]))
        self.transitions = np.array(trans, dtype=np.int64)
        self.offsets = np.array([int(offs[0]), *after], dtype=np.int64)

    def offset(self, t: np.ndarray) -> np.ndarray:
        """UTC offset (seconds) at each instant; NaN instants get 0."""
        t = np.asarray(t, dtype=np.float64)
        k = np.searchsorted(self.transitions, np.nan_to_num(t), side="right")
        return self.offsets[k]

    def local(self, t: np.ndarray) -> np.ndarray:
        """Local wall-clock seconds (as if UTC) of each instant; NaN stays NaN."""
        t = np.asarray(t, dtype=np.float64)
        return t + self.offset(t)


@dataclass(frozen=True)
class _Period:
    """The incident period: local days ``[start, end)`` of :data:`~.constants.TIMEZONE`."""

    start: dt.date
    end: dt.date
    days: int
    zone: zoneinfo.ZoneInfo
    t_start: int  # UTC instant of local midnight starting ``start``
    t_end: int  # UTC instant of local midnight starting ``end``
    zt: _ZoneTable  # offsets from two days before to four days after the period


def _period(start: dt.date, end: dt.date, days: int) -> _Period:
    """The period's instants and a zone table covering it."""
    zone = zoneinfo.ZoneInfo(TIMEZONE)
    t_start = int(dt.datetime.combine(start, dt.time(), tzinfo=zone).timestamp())
    t_end = int(dt.datetime.combine(end, dt.time(), tzinfo=zone).timestamp())
    zt = _ZoneTable(zone, t_start - 2 * 86400, t_end + 4 * 86400)
    return _Period(start, end, days, zone, t_start, t_end, zt)
