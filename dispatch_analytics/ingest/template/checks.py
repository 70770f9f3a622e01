"""Checking the template's guesses against the sample's values: stage columns must mostly
come in stage order (a column whose values precede dispatch is not "en route"), and a column
holding only disciplines (FIRE / EMS / POLICE) is the call category."""

from __future__ import annotations

import polars as pl

from ...schema.fields import STAGE_ORDER
from ..profile_tables import EXCEL_SERIAL
from ..times import _excel_serial
from .read import _Sample

__all__ = ["order_problems", "discipline_column", "IN_ORDER_SHARE"]

#: a guessed stage must be at or after the stages before it in this share of sampled rows
IN_ORDER_SHARE = 0.8
_DISCIPLINES = {"fire", "ems", "police", "law", "medical", "other"}


def _parsed(sample: _Sample, name: str, formats: list[str]) -> pl.Series:
    """A column's sampled values as datetimes, row-aligned (NULL where unreadable)."""
    i = sample.names.index(name)
    raw = pl.Series([r[i] for r in sample.rows], dtype=pl.String).str.strip_chars()
    out = None
    for fmt in formats or []:
        try:
            if fmt == EXCEL_SERIAL:  # Excel serial day numbers, read as ingest reads them
                p = pl.DataFrame({"v": raw}).select(_excel_serial(pl.col("v")).alias("v"))["v"]
            else:
                p = raw.str.strptime(pl.Datetime("us"), fmt, strict=False)
        except pl.exceptions.PolarsError:
            continue
        out = p if out is None else out.zip_with(out.is_not_null(), p)
    if out is None or out.null_count() == len(out):
        try:
            out = raw.str.to_datetime(strict=False, time_unit="us")  # typed columns: ISO text
        except pl.exceptions.PolarsError:  # no format Polars can infer: nothing to compare
            out = pl.Series([None] * len(raw), dtype=pl.Datetime("us"))
    zoned = isinstance(out.dtype, pl.Datetime) and out.dtype.time_zone is not None
    return out.dt.replace_time_zone(None) if zoned else out


def order_problems(
    sample: _Sample, stages: dict[str, tuple[str, list[str]]]
) -> dict[str, tuple[str, str]]:
    """The guessed stages whose values do not come after the stages before them.

    Parameters
    ----------
    sample : _Sample
    stages : dict
        canonical time field -> (column name, its formats).

    Returns
    -------
    dict
        field -> (column, why), e.g. ``enroute_at -> ("CREATED", "before dispatched_at in 9 of
        10 sampled rows")``; the fields kept are consistent with one another.
    """
    fields = [f for f in STAGE_ORDER if f in stages]
    values = {f: _parsed(sample, stages[f][0], stages[f][1]) for f in fields}
    bad: dict[str, tuple[str, str]] = {}
    kept: list[str] = []
    for f in fields:
        worst = None
        for before in reversed(kept):  # the latest stage first: it says most
            both = values[f].is_not_null() & values[before].is_not_null()
            n = int(both.sum())
            if n == 0:
                continue
            late = int((values[f] < values[before]).fill_null(False).sum())
            if late / n > 1 - IN_ORDER_SHARE and (worst is None or late / n > worst[0]):
                worst = (late / n, before, late, n)
        if worst is None:
            kept.append(f)
        else:
            _, before, late, n = worst
            bad[f] = (stages[f][0], f"before {before} in {late} of {n} sampled rows")
    return bad


def discipline_column(sample: _Sample, free: list[str]) -> tuple[str, list[str]] | None:
    """An unplaced column whose values are disciplines (FIRE, EMS, POLICE, ...): its name
    and the values seen."""
    for name in free:
        i = sample.names.index(name)
        vals = [str(r[i]).strip().lower() for r in sample.rows if r[i] not in (None, "")]
        if len(vals) < 3:
            continue
        seen = sorted(set(vals))
        if set(seen) <= _DISCIPLINES and len(seen) >= 2 and ({"fire", "ems"} & set(seen)):
            return name, [v.upper() for v in seen]
    return None
