"""Unit rosters: the hours each unit was staffed, for unit-hour utilisation.

A roster is a CSV (or Parquet) file, or a frame, with one row per staffed shift and the
columns ``unit_id, start, end``. Times are ISO 8601 (``2024-01-01 08:00`` or
``2024-01-01T08:00:00-06:00``); a time without an offset is read in the agency time zone. A
shift's end must be after its start. Overlapping shifts of one unit count once.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from ..errors import AnalysisError

__all__ = ["read_roster", "ROSTER_COLUMNS"]

ROSTER_COLUMNS = ("unit_id", "start", "end")


def _read(source: Any) -> tuple[pl.DataFrame, str]:
    if isinstance(source, pl.DataFrame):
        return source, "the roster frame"
    path = Path(os.fspath(source))
    if not path.is_file():
        raise AnalysisError(f"roster file {path} not found: give a CSV with unit_id, start, end")
    try:
        if path.suffix.lower() == ".parquet":
            return pl.read_parquet(path), str(path)
        return pl.read_csv(path, infer_schema=False), str(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise AnalysisError(f"cannot read roster {path}: {exc}") from None


def _instant(text: Any, zone: ZoneInfo) -> dt.datetime | None:
    if isinstance(text, dt.datetime):
        t = text
    else:
        try:
            t = dt.datetime.fromisoformat(str(text).strip())
        except ValueError:
            return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=zone)
    return t.astimezone(dt.UTC)


def read_roster(source: Any, timezone: str) -> pl.DataFrame:
    """The roster as ``unit_id, staffed_from, staffed_to`` (UTC instants).

    Raises
    ------
    AnalysisError
        The file is missing or unreadable, lacks a column, or has bad times; every bad row is
        named (1 = the first data row).
    """
    df, name = _read(source)
    missing = [c for c in ROSTER_COLUMNS if c not in df.columns]
    if missing:
        raise AnalysisError(
            f"roster {name} lacks column(s) {', '.join(missing)}; it needs unit_id, start, end "
            f"(found: {', '.join(df.columns) or 'none'})"
        )
    zone = ZoneInfo(timezone)
    problems: list[str] = []
    rows = []
    for i, r in enumerate(df.select(ROSTER_COLUMNS).iter_rows(named=True), start=1):
        unit = None if r["unit_id"] is None else str(r["unit_id"]).strip()
        a, b = _instant(r["start"], zone), _instant(r["end"], zone)
        if not unit:
            problems.append(f"row {i}: `unit_id` is blank")
        if a is None or b is None:
            bad = "start" if a is None else "end"
            problems.append(
                f"row {i}: `{bad}` {r[bad]!r} is not an ISO time (e.g. 2024-01-01 08:00)"
            )
        elif b <= a:
            problems.append(f"row {i}: `end` {r['end']} is not after `start` {r['start']}")
        if len(problems) >= 20:
            problems.append("... (first 20 problems shown)")
            break
        rows.append((unit, a, b))
    if problems:
        raise AnalysisError(problems, f"invalid roster {name}")
    tz = pl.Datetime("us", "UTC")
    return pl.DataFrame(
        rows,
        schema={"unit_id": pl.String, "staffed_from": tz, "staffed_to": tz},
        orient="row",
    )
