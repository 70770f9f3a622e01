"""The dashboard's questions, as plain functions over a :class:`Snapshot` (unit-tested).

Percentiles are nearest-rank (DuckDB ``quantile_disc``, the same rule as the library), and
compliance is the share of incidents at or under the target, so "p90 <= target" and
"compliance >= 90%" always agree.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from .data import INTERVALS, Snapshot
from .filters import Filters, where_sql

__all__ = [
    "overview_stats",
    "target_sql",
    "target_label",
    "single_target",
    "interval_summary",
    "windows_summary",
    "trend",
    "heatmap",
    "volume_by_category",
    "zone_stats",
    "zone_breakdown",
    "hex_stats",
    "unit_turnout",
    "first_due_reliability",
    "unit_workload",
    "rejects_over_time",
    "outside_zones",
    "filter_choices",
    "latest_date",
]

_PERIOD = {"month": "month", "week": "week", "day": "day"}


Target = float | tuple | None  # seconds, or ((call_category or None, seconds), ...)


def target_sql(t: Target) -> str:
    """SQL for an incident's target: a number, or a CASE on call_category for profiles whose
    target depends on the category (e.g. turnout 60 s EMS, 80 s fire)."""
    if t is None:
        return "NULL"
    if isinstance(t, (int, float)):
        return repr(float(t))
    default = next((float(sec) for cat, sec in t if cat is None), None)
    cases = " ".join(
        f"when '{str(cat).replace(chr(39), chr(39) * 2)}' then {float(sec)!r}"
        for cat, sec in t
        if cat is not None
    )
    if not cases:
        return "NULL" if default is None else repr(default)
    return f"(case call_category {cases} else {'NULL' if default is None else repr(default)} end)"


def single_target(t: Target) -> float | None:
    """The target in seconds when one value applies to every incident, else None."""
    if t is None or isinstance(t, (int, float)):
        return None if t is None else float(t)
    secs = {float(sec) for _c, sec in t}
    return secs.pop() if len(secs) == 1 else None


def target_label(t: Target) -> str:
    """'240 s', or '60 s ems · 80 s fire, other'."""
    if t is None:
        return "no target in profile"
    one = single_target(t)
    if one is not None:
        return f"{one:g} s"
    by: dict[float, list[str]] = {}
    for cat, sec in t:
        by.setdefault(float(sec), []).append(cat or "other calls")
    return " · ".join(f"{sec:g} s {', '.join(cats)}" for sec, cats in by.items())


def _col(metric: str) -> str:
    if metric not in INTERVALS:
        raise ValueError(f"`metric` {metric!r} is not one of {', '.join(INTERVALS)}")
    return f"{metric}_s"


def _stats_sql(col: str, pct: float, target: Target = None) -> str:
    return (
        f"count({col}) as n, quantile_disc({col}, {pct / 100:.6f}) as p_s, "
        f"avg(({col} <= {target_sql(target)})::int) filter (where {col} is not null) as compliance"
    )


def interval_summary(
    snap: Snapshot, f: Filters, metric: str, target_s: Target, pct: float = 90
) -> dict:
    """n, percentile, compliance of one interval over the filtered incidents."""
    col = _col(metric)
    where, params = where_sql(f)
    row = snap.query(
        f"select {_stats_sql(col, pct, target_s)}, count(*) as volume from inc where {where}",
        params,
    ).row(0, named=True)
    return row


def overview_stats(
    snap: Snapshot, f: Filters, targets: dict[str, tuple[float | None, float]], freq: str = "week"
) -> dict[str, dict]:
    """Everything the overview shows, for every interval, in three queries.

    Returns, per metric: ``summary`` (n, p_s, compliance, volume), ``windows`` (a frame like
    :func:`windows_summary`) and ``trend`` (a frame like :func:`trend`). Cached per data
    version and filters.
    """
    key = ("overview", f, tuple(sorted(targets.items())), freq)
    return snap.memo(key, lambda: _overview_stats(snap, f, targets, freq))


def _overview_stats(snap, f, targets, freq):
    where, params = where_sql(f)
    end = latest_date(snap)
    metrics = list(INTERVALS)
    sel = []
    for m in metrics:
        t, pct = targets.get(m, (None, 90.0))
        col = _col(m)
        sel.append(
            f"count({col}) as n_{m}, quantile_disc({col}, {pct / 100:.6f}) as p_{m}, "
            f"avg(({col} <= {target_sql(t)})::int) filter (where {col} is not null) as c_{m}"
        )
    cols = ", ".join(sel)
    summary = snap.query(f"select count(*) as volume, {cols} from inc where {where}", params).row(
        0, named=True
    )
    unit = _PERIOD.get(freq, "week")
    trend_df = snap.query(
        f"select date_trunc('{unit}', local_date)::date as period_start, {cols} "
        f"from inc where {where} group by 1 order by 1",
        params,
    )
    wins = []
    if end is not None:
        for label, days in (("last 24 h", 1), ("last 7 d", 7), ("last 30 d", 30)):
            ff = f.with_(date_from=end - timedelta(days=days - 1), date_to=end)
            w, wp = where_sql(ff)
            r = snap.query(f"select {cols} from inc where {w}", wp).row(0, named=True)
            wins.append((label, r))
    wins.append(("selected period", summary))
    out = {}
    for m in metrics:
        out[m] = {
            "summary": {
                "n": summary[f"n_{m}"],
                "p_s": summary[f"p_{m}"],
                "compliance": summary[f"c_{m}"],
                "volume": summary["volume"],
            },
            "windows": pl.DataFrame(
                [
                    {"window": lbl, "n": r[f"n_{m}"], "p_s": r[f"p_{m}"], "compliance": r[f"c_{m}"]}
                    for lbl, r in wins
                ],
                schema={
                    "window": pl.String,
                    "n": pl.Int64,
                    "p_s": pl.Float64,
                    "compliance": pl.Float64,
                },
            ),
            "trend": trend_df.select(
                "period_start",
                pl.col(f"n_{m}").alias("n"),
                pl.col(f"p_{m}").cast(pl.Float64).alias("p_s"),
                pl.col(f"c_{m}").alias("compliance"),
            ),
        }
    return out


def latest_date(snap: Snapshot):
    """Newest local date in the data (the 'now' of relative windows)."""
    return snap.query("select max(local_date) as d from inc")["d"][0]


def windows_summary(
    snap: Snapshot, f: Filters, metric: str, target_s: Target, pct: float = 90
) -> pl.DataFrame:
    """The same interval over the last 24 h / 7 d / 30 d (ending at the newest incident)
    beside the filtered period."""
    col = _col(metric)
    end = latest_date(snap)
    rows = []
    if end is not None:
        for label, days in (("last 24 h", 1), ("last 7 d", 7), ("last 30 d", 30)):
            ff = f.with_(date_from=end - timedelta(days=days - 1), date_to=end)
            where, params = where_sql(ff)
            r = snap.query(
                f"select {_stats_sql(col, pct, target_s)} from inc where {where}", params
            ).row(0, named=True)
            rows.append({"window": label, **r})
    where, params = where_sql(f)
    r = snap.query(f"select {_stats_sql(col, pct, target_s)} from inc where {where}", params).row(
        0, named=True
    )
    rows.append({"window": "selected period", **r})
    return pl.DataFrame(
        rows,
        schema={"window": pl.String, "n": pl.Int64, "p_s": pl.Float64, "compliance": pl.Float64},
    )


def trend(
    snap: Snapshot, f: Filters, metric: str, target_s: Target, pct: float = 90, freq: str = "month"
) -> pl.DataFrame:
    """Percentile and compliance of an interval per period (``day``, ``week``, ``month``)."""
    col = _col(metric)
    unit = _PERIOD.get(freq)
    if unit is None:
        raise ValueError(f"`freq` {freq!r} must be day, week or month")
    where, params = where_sql(f)
    return snap.query(
        f"select date_trunc('{unit}', local_date)::date as period_start, {_stats_sql(col, pct, target_s)} "
        f"from inc where {where} group by 1 order by 1",
        params,
    )


def heatmap(
    snap: Snapshot, f: Filters, metric: str | None = None, target_s: float = 0, pct: float = 90
) -> pl.DataFrame:
    """Incidents (and the interval percentile) by local hour x ISO weekday."""
    where, params = where_sql(f)
    extra = ""
    if metric:
        extra = f", quantile_disc({_col(metric)}, {pct / 100:.6f}) as p_s"
    return snap.query(
        f"select local_weekday as weekday, local_hour as hour, count(*) as n{extra} "
        f"from inc where {where} group by 1, 2 order by 1, 2",
        params,
    )


def volume_by_category(snap: Snapshot, f: Filters, freq: str = "month") -> pl.DataFrame:
    """Incident counts per period and call category."""
    unit = _PERIOD.get(freq, "month")
    where, params = where_sql(f)
    return snap.query(
        f"select date_trunc('{unit}', local_date)::date as period_start, call_category, "
        f"count(*) as n from inc where {where} group by 1, 2 order by 1, 2",
        params,
    )


def _layer_col(snap: Snapshot, layer: str) -> str:
    if layer not in snap.layers:
        raise ValueError(
            f"`layer` {layer!r} is not loaded; loaded: {', '.join(snap.layers) or 'none'}"
        )
    return f'"zone__{layer}"'


def zone_stats(
    snap: Snapshot, f: Filters, layer: str, metric: str, target_s: Target, pct: float = 90
) -> pl.DataFrame:
    """Per zone of a layer: volume, n, percentile, compliance and gap to target."""
    zc = _layer_col(snap, layer)
    col = _col(metric)
    where, params = where_sql(f)
    return snap.query(
        f"select {zc} as zone_id, count(*) as volume, {_stats_sql(col, pct, target_s)}, "
        f"quantile_disc({col}, {pct / 100:.6f}) - {target_sql(single_target(target_s))} as gap_s "
        f"from inc where {where} and {zc} is not null group by 1 order by 1",
        params,
    )


def zone_breakdown(
    snap: Snapshot,
    f: Filters,
    layer: str,
    zone_id: str,
    targets: dict[str, Target],
    pct: float = 90,
) -> pl.DataFrame:
    """One zone: each interval's n, percentile and compliance, and volume by category."""
    zc = _layer_col(snap, layer)
    where, params = where_sql(f)
    rows = []
    for metric, (label, _s, _e) in INTERVALS.items():
        t = targets.get(metric)
        col = _col(metric)
        r = snap.query(
            f"select {_stats_sql(col, pct, t)} from inc where {where} and {zc} = $zone",
            {**params, "zone": zone_id},
        ).row(0, named=True)
        rows.append(
            {
                "interval": label,
                "n": r["n"],
                "p_s": r["p_s"],
                "target": target_label(t),
                "compliance": r["compliance"] if t is not None else None,
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "interval": pl.String,
            "n": pl.Int64,
            "p_s": pl.Float64,
            "target": pl.String,
            "compliance": pl.Float64,
        },
    )


def hex_stats(snap: Snapshot, f: Filters, metric: str, target_s: Target) -> pl.DataFrame:
    """Per H3 cell: volume and late-response rate (share of the interval over target)."""
    if not snap.has_cells:
        return pl.DataFrame(
            schema={"h3_cell": pl.String, "volume": pl.Int64, "late_rate": pl.Float64}
        )
    col = _col(metric)
    where, params = where_sql(f)
    return snap.query(
        f"select h3_cell, count(*) as volume, avg(({col} > {target_sql(target_s)})::int) "
        f"filter (where {col} is not null) as late_rate from inc "
        f"where {where} and h3_cell is not null group by 1",
        params,
    )


def unit_turnout(
    snap: Snapshot, f: Filters, target_s: Target, pct: float = 90, top: int = 40
) -> pl.DataFrame:
    """Turnout per unit: n, percentile, compliance (units with most responses first)."""
    where, params = where_sql(f)
    return snap.query(
        f"select unit_id, any_value(unit_type) as unit_type, {_stats_sql('turnout_s', pct, target_s)} "
        f"from units where {where} group by 1 order by n desc, unit_id limit {int(top)}",
        params,
    )


def first_due_reliability(snap: Snapshot, f: Filters, layer: str) -> pl.DataFrame:
    """Per station area (a zone layer whose zone ids are station ids): the share of its
    incidents whose first-arriving unit came from that station."""
    zc = _layer_col(snap, layer)
    where, params = where_sql(f, "i")
    return snap.query(
        f"""
        with arrivals as (
          select i.incident_id, i.{zc} as area, u.station_id as fa_station
          from inc i join units u
            on u.incident_id = i.incident_id and u.unit_id = i.first_arriving_unit
          where {where} and i.{zc} is not null
        )
        select area as station_area, count(*) as n,
          avg((fa_station = area)::int) as first_due_share
        from arrivals group by 1 order by 1
        """,
        params,
    )


def unit_workload(snap: Snapshot, f: Filters, top: int = 40) -> pl.DataFrame:
    """Responses and committed hours per unit."""
    where, params = where_sql(f)
    return snap.query(
        f"select unit_id, count(*) as responses, sum(busy_s) / 3600 as committed_h "
        f"from units where {where} group by 1 order by responses desc, unit_id limit {int(top)}",
        params,
    )


def rejects_over_time(snap: Snapshot) -> pl.DataFrame:
    """Rejected rows per ingest day and reason."""
    return snap.query(
        "select cast(l.started_at as date) as ingested_on, r.reason, count(*) as n "
        "from rejects_t r join log_t l using (batch_id) group by 1, 2 order by 1, 2"
    )


def outside_zones(snap: Snapshot) -> pl.DataFrame:
    """Per layer: incidents outside every zone, and incidents without coordinates."""
    rows = []
    total = snap.query("select count(*) as n from inc")["n"][0]
    for lyr in snap.layers:
        r = snap.query(
            f'select count(*) filter (where "zone__{lyr}" is null and latitude is '
            f"not null) as outside, count(*) filter (where latitude is null) as "
            f"no_coordinates from inc"
        ).row(0, named=True)
        rows.append({"layer": lyr, "incidents": total, **r})
    return pl.DataFrame(
        rows,
        schema={
            "layer": pl.String,
            "incidents": pl.Int64,
            "outside": pl.Int64,
            "no_coordinates": pl.Int64,
        },
    )


def filter_choices(snap: Snapshot) -> dict:
    """Values offered by the filter controls."""
    q = snap.query
    return {
        "categories": q("select distinct call_category as v from inc order by 1")["v"].to_list(),
        "call_types": q(
            "select call_type as v from inc where call_type is not null group by 1 "
            "order by count(*) desc limit 200"
        )["v"].to_list(),
        "priorities": q(
            "select distinct priority as v from inc where priority is not null order by 1"
        )["v"].to_list(),
        "date_min": q("select min(local_date) as v from inc")["v"][0],
        "date_max": q("select max(local_date) as v from inc")["v"][0],
        "layers": list(snap.layers),
    }
