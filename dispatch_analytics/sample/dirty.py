"""The planted dirty rows of the sample city: about 2 % of rows, one problem each.

:func:`_plant_dirty_rows` picks clean rows away from the daylight-saving nights (the last
draws from the city's random generator: the row choice, the bad stage times, the places of
the duplicates, in this order), breaks each for one reject reason of
:data:`~.constants.PLANTED_REASONS` and converts the instants to local wall-clock readings
(rows planted in the spring-forward gap read ``T_RCVD`` with the offset before the jump).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

import numpy as np

from .calls import _Incidents, _Stages, _UnitRows
from .constants import CSV_COLUMNS, PLANTED_REASONS, PLANTED_SHARE
from .zonetable import _Period, _ZoneTable

__all__ = ["_Dirty", "_plant_dirty_rows"]

_GARBAGE_TIMES = (
    "13/45/{y} 25:61:00",
    "N/A?",
    "00/00/0000 00:00:00",
    "{m}/31/{y} 24:00:99",
    "#VALUE!",
    "99/99/9999 99:99:99",
)


@dataclass
class _Dirty:
    """The planted rows and the row values they change."""

    planted: dict[str, int]  # rows per reject reason, keys PLANTED_REASONS
    picks: np.ndarray  # (8, k) rows broken for the first 8 reasons (duplicate_row: copied)
    str_override: dict[str, dict[int, str | None]]  # column -> row -> text written instead
    lat: np.ndarray  # per row, with the planted coordinate problems
    lon: np.ndarray
    local: dict[str, np.ndarray]  # time column -> local wall-clock seconds (as if UTC)
    gap_rows: np.ndarray  # rows whose T_RCVD reads inside the spring-forward gap
    dup_src: np.ndarray  # rows copied as duplicate rows, sorted
    insert_at: np.ndarray  # where each copy is inserted (np.insert positions)


def _plant_dirty_rows(
    incs: _Incidents,
    rows: _UnitRows,
    stages: _Stages,
    period: _Period,
    rng: np.random.Generator,
) -> _Dirty:
    """Break about :data:`PLANTED_SHARE` of the rows (``stages.times`` is changed in place)."""
    times = stages.times
    picks = _choose_rows(incs, rows, stages.cancelled, rng)
    chosen = dict(zip(PLANTED_REASONS[:8], picks, strict=True))
    str_override: dict[str, dict[int, str | None]] = {c: {} for c in CSV_COLUMNS}
    _garbage_times(chosen["unparseable_time"], times, period.zone, str_override)
    _blank_ids(chosen["missing_id"], rows.inc, incs.t0.size, str_override)
    _bad_stages(chosen, times, rng)
    lat, lon = _bad_coordinates(chosen, incs.lat[rows.inc].copy(), incs.lon[rows.inc].copy())
    planted = dict.fromkeys(PLANTED_REASONS, 0)
    for reason in PLANTED_REASONS[:8]:
        planted[reason] = int(chosen[reason].size)
    local, gap_rows = _local_readings(times, incs, rows, period.zt)
    planted["nonexistent_local_time"] = int(gap_rows.size)
    dup_src, insert_at = _duplicates(chosen["duplicate_row"], rows.inc.size, rng)
    planted["duplicate_row"] = int(dup_src.size)
    return _Dirty(
        planted=planted,
        picks=picks,
        str_override=str_override,
        lat=lat,
        lon=lon,
        local=local,
        gap_rows=gap_rows,
        dup_src=dup_src,
        insert_at=insert_at,
    )


def _choose_rows(
    incs: _Incidents, rows: _UnitRows, cancelled: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """``(8, k)`` distinct clean rows, not cancelled and a day or more from a DST change."""
    inc = rows.inc
    R = inc.size
    per_reason = max(1, round(R * PLANTED_SHARE / 8)) if R >= 400 else 0
    near_dst = np.zeros(incs.t0.size, dtype=bool)
    for T, _, _ in incs.dst_events:
        near_dst |= np.abs(incs.t0 - T) < 86400
    pool = np.nonzero((incs.kind[inc] == 0) & ~near_dst[inc] & ~cancelled)[0]
    per_reason = min(per_reason, pool.size // 8)
    return rng.permutation(pool)[: 8 * per_reason].reshape(8, per_reason)


def _garbage_times(picked, times, zone: zoneinfo.ZoneInfo, str_override) -> None:
    """unparseable_time: garbage text in one time column of each picked row."""
    for k, r in enumerate(picked):
        col = ("T_RCVD", "T_DISP", "T_ENRT", "T_ARRV", "T_CLR")[k % 5]
        when = dt.datetime.fromtimestamp(int(times["T_RCVD"][r]), tz=zone)
        garbage = _GARBAGE_TIMES[(k // 5 + k) % len(_GARBAGE_TIMES)]
        str_override[col][int(r)] = garbage.format(y=when.year, m=f"{when.month:02d}")


def _blank_ids(picked, inc: np.ndarray, n: int, str_override) -> None:
    """missing_id: a blank INC_NO or UNIT.

    INC_NO is blanked only where the incident keeps another row, so every number still
    appears.
    """
    rows_per_inc = np.bincount(inc, minlength=n)
    blanked: set[int] = set()
    for k, r in enumerate(picked):
        i = int(inc[r])
        if k % 2 == 0 and rows_per_inc[i] > 1 and i not in blanked:
            blanked.add(i)
            str_override["INC_NO"][int(r)] = None
        else:
            str_override["UNIT"][int(r)] = None


def _bad_stages(chosen: dict[str, np.ndarray], times, rng: np.random.Generator) -> None:
    """stage_order (en route before dispatch) and interval_too_long (6.25-9 h travel)."""
    rows = chosen["stage_order"]
    times["T_ENRT"][rows] = times["T_DISP"][rows] - np.round(rng.uniform(30, 240, rows.size))
    rows = chosen["interval_too_long"]
    new_arrv = times["T_ENRT"][rows] + np.round(rng.uniform(6.25, 9.0, rows.size) * 3600)
    delta = new_arrv - times["T_ARRV"][rows]
    for col in ("T_ARRV", "T_TRANS", "T_HOSP", "T_CLR"):
        times[col][rows] += delta


def _bad_coordinates(chosen: dict[str, np.ndarray], lat_r: np.ndarray, lon_r: np.ndarray):
    """Missing, zero and out-of-range coordinates (in place); returns ``(lat, lon)``."""
    rows = chosen["missing_coordinates"]
    lat_r[rows] = np.nan
    lon_r[rows] = np.nan
    rows = chosen["zero_coordinates"]
    lat_r[rows] = 0.0
    lon_r[rows] = 0.0
    rows = chosen["coordinates_out_of_range"]
    lat_r[rows[0::2]] = 123.4
    lon_r[rows[1::2]] = -200.0
    return lat_r, lon_r


def _local_readings(times, incs: _Incidents, rows: _UnitRows, zt: _ZoneTable):
    """Local wall-clock seconds per time column; gap rows read T_RCVD with the old offset."""
    local = {c: zt.local(v) for c, v in times.items()}
    gap_off = incs.gap_off[rows.inc]
    gap_rows = np.nonzero(gap_off != 0)[0]
    local["T_RCVD"][gap_rows] = times["T_RCVD"][gap_rows] + gap_off[gap_rows]
    return local, gap_rows


def _duplicates(picked: np.ndarray, n_rows: int, rng: np.random.Generator):
    """duplicate_row: the copied rows (sorted) and where the copies go, 1-4 rows later."""
    dup_src = np.sort(picked)
    insert_at = np.minimum(dup_src + 1 + rng.integers(0, 4, dup_src.size), n_rows)
    return dup_src, insert_at
