"""The sample city's ``README.md``: what the files hold, the planted rows, the DST nights."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

import numpy as np

from ..errors import SampleError
from .calls import _Incidents, _Stages, _UnitRows
from .constants import (
    _TIME_COLUMNS,
    EMS_TYPES,
    FIRE_TYPES,
    OTHER_TYPES,
    PLANTED_REASONS,
    TIMESTAMP_FORMAT,
    TIMEZONE,
)
from .dirty import _Dirty

__all__ = ["_dst_notes", "_readme_text", "_write_readme"]

_REASON_TEXT = {
    "unparseable_time": "garbage in one time column (`13/45/2024 25:61:00`, `N/A?`, ...)",
    "missing_id": "blank `INC_NO` or blank `UNIT`",
    "stage_order": "`T_ENRT` 30-240 s earlier than `T_DISP`",
    "interval_too_long": "`T_ARRV` 6.25-9 h after `T_ENRT` (limit 21600 s; later stages shifted too)",
    "missing_coordinates": "blank `LAT` and `LON`",
    "zero_coordinates": "`LAT` = 0 and `LON` = 0",
    "coordinates_out_of_range": "`LAT` = 123.4 or `LON` = -200",
    "duplicate_row": "exact copy of a clean row, placed 1-4 rows after it",
    "nonexistent_local_time": "`T_RCVD` inside the spring-forward gap (02:xx local)",
}


def _dst_notes(
    incs: _Incidents, rows: _UnitRows, stages: _Stages, dirty: _Dirty, zone: zoneinfo.ZoneInfo
) -> list[dict]:
    """Facts about the clean rows around each daylight-saving change, for the README."""
    inc, t0, times, local = rows.inc, incs.t0, stages.times, dirty.local
    dst_notes = []
    clean = np.ones(inc.size, dtype=bool)
    clean[dirty.picks.ravel()] = False
    clean[dirty.gap_rows] = False
    for T, o1, o2 in incs.dst_events:
        near = np.nonzero((np.abs(t0[inc] - T) < 2 * 86400) & clean)[0]
        present = np.column_stack([times[c][near] for c in _TIME_COLUMNS])
        loc = np.column_stack([local[c][near] for c in _TIME_COLUMNS])
        d = abs(o2 - o1)
        touch = np.any((present >= T - d) & (present < T + d), axis=1)
        run_max = np.fmax.accumulate(np.where(np.isnan(loc), -np.inf, loc), axis=1)
        backwards = np.any(loc[:, 1:] < run_max[:, :-1], axis=1)
        day = dt.datetime.fromtimestamp(T, tz=zone).date()
        day0 = (T + o1) // 86400 * 86400
        in_window = (loc[:, 0] >= day0 + 3600) & (loc[:, 0] < day0 + 3 * 3600)
        dst_notes.append(
            {
                "date": day.strftime("%m/%d/%Y"),
                "kind": "spring-forward" if o2 > o1 else "fall-back",
                "incidents": int(np.unique(inc[near][in_window]).size),
                "rows": int(in_window.sum()),
                "repeated": int(touch.sum()) if o2 < o1 else 0,
                "backwards": int(backwards.sum()),
                "crossing": int(touch.sum()) if o2 > o1 else 0,
            }
        )
    return dst_notes


def _readme_text(*, n, n_rows, seed, start, days, planted, dst) -> str:
    """The README: files, columns, planted rows per reason, daylight-saving nights."""
    lines = _intro_lines(n=n, n_rows=n_rows, seed=seed, start=start, days=days)
    lines += _planted_lines(planted, n_rows)
    lines += _dst_lines(dst)
    lines.append("")
    return "\n".join(lines)


def _intro_lines(*, n, n_rows, seed, start, days) -> list[str]:
    return [
        "# Sample city (synthetic data)",
        "",
        "Everything in this directory is **synthetic**: the city, its stations, units and",
        "incidents are invented (placed near Austin, Texas only to look plausible). Generated",
        f"by `dispatch_analytics.sample.generate_city` with seed {seed}: {n:,} incidents,",
        f"{n_rows:,} unit rows, {days} days from {start.isoformat()} (local time, {TIMEZONE}).",
        "The same seed always gives byte-identical files.",
        "",
        "## Files",
        "",
        "| File | Contents |",
        "| --- | --- |",
        "| `sample_city.csv` | CAD export, one row per unit per incident (unit grain) |",
        "| `sample_city.toml` | mapping that ingests `sample_city.csv` |",
        "| `stations.geojson` | station points: `station_id`, `name`, `battalion_id`, `units` |",
        "| `station_areas.geojson` | first-due areas (Voronoi cells of the stations clipped to "
        "the city): `station_id`, `name`, `battalion_id` |",
        "| `battalions.geojson` | battalion polygons (unions of station areas): "
        "`battalion_id`, `name` |",
        "",
        "GeoJSON layers are EPSG:4326 (longitude, latitude). Station areas cover the city",
        "without gaps or overlaps.",
        "",
        "## Columns of `sample_city.csv`",
        "",
        "| Column | Meaning |",
        "| --- | --- |",
        "| `INC_NO` | incident number, `YY-NNNNNN` (numbered per year of receipt) |",
        "| `UNIT` | unit id: `E01` engine, `M03` medic, `T02` truck, `B1` battalion chief |",
        "| `UNIT_TYPE` | `ENGINE`, `MEDIC`, `TRUCK` or `CHIEF` |",
        "| `STATION` | home station of the unit (`S01`..`S12`) |",
        "| `NATURE` | call type |",
        "| `PRI` | priority 1 (highest) to 3 |",
        "| `T_RCVD` | call received |",
        "| `T_DISP` | unit dispatched |",
        "| `T_ENRT` | unit en route |",
        "| `T_ARRV` | unit on scene (blank when cancelled before arrival) |",
        "| `T_TRANS` | medic left scene transporting |",
        "| `T_HOSP` | medic at hospital |",
        "| `T_CLR` | unit cleared (also for cancelled units) |",
        "| `LAT`, `LON` | incident location, WGS84 degrees |",
        "",
        f"Times are local {TIMEZONE} wall-clock readings, `{TIMESTAMP_FORMAT}`, blank when",
        "absent. They were generated as true UTC instants and converted with `zoneinfo`.",
        "",
        f"Call types: EMS ({', '.join(EMS_TYPES)}) ~65 %; fire ({', '.join(FIRE_TYPES)})",
        f"~20 %; other ({', '.join(OTHER_TYPES)}) ~15 %.",
        "",
    ]


def _planted_lines(planted: dict[str, int], n_rows: int) -> list[str]:
    total = sum(planted.values())
    share = 100.0 * total / n_rows if n_rows else 0.0
    lines = [
        "## Planted dirty rows",
        "",
        f"{total:,} of {n_rows:,} rows ({share:.2f} %) are planted; each has exactly one",
        "problem and an ingest must reject it for the reason below. Every other row is clean.",
        "",
        "| Reject reason | Rows | Problem |",
        "| --- | ---: | --- |",
    ]
    for reason in PLANTED_REASONS:
        lines.append(f"| `{reason}` | {planted[reason]} | {_REASON_TEXT[reason]} |")
    lines += [f"| **total** | {total} | {share:.2f} % of rows |", ""]
    return lines


def _dst_lines(dst: list[dict]) -> list[str]:
    lines = ["## Daylight-saving nights", ""]
    if not dst:
        lines += ["The period contains no daylight-saving change.", ""]
    for d in dst:
        lines.append(
            f"* {d['date']} ({d['kind']}): clean incidents received between 01:00 and 03:00"
            f" local: {d['incidents']} ({d['rows']} rows)."
        )
        if d["kind"] == "fall-back":
            lines.append(
                f"  {d['repeated']} clean rows have a time inside the repeated hour (01:00-01:59"
                f" read twice); in {d['backwards']} of them the local readings run backwards"
                " within the row. They are correct: resolve each ambiguous reading to the"
                " offset that keeps the stages in order."
            )
        else:
            lines.append(
                f"  {d['crossing']} clean rows have a time within an hour of the jump; no"
                " clean reading falls in 02:00-02:59. Wall-clock differences across the jump"
                " are one hour too long; intervals must be computed on UTC instants."
            )
    return lines


def _write_readme(text: str, path: Path) -> None:
    try:
        path.write_text(text, encoding="utf-8", newline="\n")
    except OSError as exc:
        raise SampleError(f"cannot write {path}: {exc}") from exc
