"""The dashboard's questions, as plain functions over a :class:`Snapshot` (unit-tested).

Nothing is computed here that the library computes: every percentile, compliance and CI comes
from the library's ``da_fractiles`` macro (through
:func:`dispatch_analytics.metrics.fractile_sql.fractile_sql` over the snapshot's rows, one per
incident and interval of the registry), and unit turnout and first-due reliability are the
library's ``unit_turnout`` / ``first_due_reliability`` queries run over the filtered rows.
Percentiles are nearest-rank and compliance is the share of values at or under the target, so
"p90 <= target" and "compliance >= 90%" always agree.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from dispatch_analytics.metrics.fractile_sql import fractile_sql
from dispatch_analytics.metrics.queries import run_query
from dispatch_analytics.schema.intervals import intervals
from dispatch_analytics.store.derived_sql import interval_rows_sql

from . import choices
from .data import INTERVALS, Snapshot
from .filters import Filters, where_sql
from .results_cache import shared

#: filter choices, rejects and outside-zone counts, once per data version for every worker
filter_choices = shared("filter_choices")(choices.filter_choices)
rejects_over_time = shared("rejects_over_time")(choices.rejects_over_time)
outside_zones = shared("outside_zones")(choices.outside_zones)

__all__ = [
    "interval_table",
    "overview_stats",
    "target_sql",
    "target_label",
    "target_lines",
    "single_target",
    "interval_summary",
    "windows_summary",
    "trend",
    "trends",
    "heatmap",
    "volume_by_category",
    "zone_stats",
    "zone_breakdown",
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
    """'4:00', or '1:00 ems · 1:20 fire, other' (m:ss, :func:`fmt.duration`)."""
    from dispatch_analytics import fmt

    if t is None:
        return "no target in profile"
    one = single_target(t)
    if one is not None:
        return fmt.duration(one)
    by: dict[float, list[str]] = {}
    for cat, sec in t:
        by.setdefault(float(sec), []).append(cat or "other calls")
    return " · ".join(f"{fmt.duration(sec)} {', '.join(cats)}" for sec, cats in by.items())


def target_lines(t: Target) -> dict[str, float] | float | None:
    """A chart's target lines: one number, or ``{"target ems": 60, "target fire, other":
    80}`` when the target depends on the call category."""
    if t is None:
        return None
    one = single_target(t)
    if one is not None:
        return one
    by: dict[float, list[str]] = {}
    for cat, sec in t:
        by.setdefault(float(sec), []).append(cat or "other calls")
    return {f"target {', '.join(cats)}": sec for sec, cats in by.items()}


def _intervals(metrics) -> list:
    known = {iv.name: iv for iv in intervals(dashboard=True)}
    for m in metrics:
        if m not in known:
            raise ValueError(f"`metric` {m!r} is not one of {', '.join(known)}")
    return [known[m] for m in metrics]


def interval_table(
    snap: Snapshot,
    f: Filters,
    targets: dict[str, tuple[Target, float]],
    keys: dict[str, str] | None = None,
    where: str | None = None,
    params: dict | None = None,
    always: bool = False,
) -> pl.DataFrame:
    """The library's fractile table (``da_fractiles``) of the filtered incidents, one row per
    interval of ``targets`` ({metric: (target, pct)}) and group of ``keys`` ({column: select
    item over the incident row ``s``}). ``always``: a row per interval even with no incident.
    Adds ``volume`` (incidents in the group) and ``p_s`` (the fractile at the percentile)."""
    ivs = _intervals(targets)
    keys = keys or {}
    cond, values = where_sql(f)
    if where:
        cond = f"{cond} and {where}"
    rows = interval_rows_sql(
        "inc",
        ivs,
        [f"{expr} as {name}" for name, expr in keys.items()],
        where=cond,
        extra=lambda iv: (
            f"{target_sql(targets[iv.name][0])}::double as target_s, "
            f"{float(targets[iv.name][1])!r}::double as pct"
        ),
    )
    placeholders = None
    if always and not keys:
        values_sql = ", ".join(
            f"('{iv.name}', {_single_sql(targets[iv.name][0])}::double, "
            f"{float(targets[iv.name][1])!r}::double)"
            for iv in ivs
        )
        placeholders = f"select * from (values {values_sql}) v(metric, target_s, pct)"
    sql = fractile_sql(
        "interval_rows",
        ["metric", *keys],
        ctes=[("interval_rows", rows)],
        placeholders=placeholders,
    )
    out = snap.query(sql, {**values, **(params or {})})
    return out.with_columns(
        (pl.col("n") + pl.col("n_excluded")).alias("volume"),
        pl.col("p_value_s").cast(pl.Float64).alias("p_s"),
    )


def _single_sql(t: Target) -> str:
    one = single_target(t)
    return "NULL" if one is None else repr(one)


def _summary(row: dict | None) -> dict:
    if row is None:
        return {"n": 0, "p_s": None, "compliance": None, "volume": 0}
    return {k: row[k] for k in ("n", "p_s", "compliance", "volume")}


def _by_metric(df: pl.DataFrame) -> dict[str, dict]:
    return {r["metric"]: r for r in df.iter_rows(named=True)}


def interval_summary(
    snap: Snapshot, f: Filters, metric: str, target_s: Target, pct: float = 90
) -> dict:
    """n, percentile, compliance of one interval over the filtered incidents."""
    df = interval_table(snap, f, {metric: (target_s, pct)}, always=True)
    return _summary(_by_metric(df).get(metric))


def overview_stats(
    snap: Snapshot, f: Filters, targets: dict[str, tuple[float | None, float]], freq: str = "week"
) -> dict[str, dict]:
    """Everything the overview shows, for every interval.

    Returns, per metric: ``summary`` (n, p_s, compliance, volume), ``windows`` (a frame like
    :func:`windows_summary`) and ``trend`` (a frame like :func:`trend`). Cached per data
    version and filters, for every worker (:mod:`dash_app.results_cache`).
    """
    return _overview_shared(snap, f, tuple(sorted(targets.items())), freq)


@shared("overview_stats")
def _overview_shared(snap: Snapshot, f: Filters, targets: tuple, freq: str) -> dict:
    return _overview_stats(snap, f, dict(targets), freq)


_WINDOWS = (("last 24 h", 1), ("last 7 d", 7), ("last 30 d", 30))
_WINDOW_SCHEMA = {"window": pl.String, "n": pl.Int64, "p_s": pl.Float64, "compliance": pl.Float64}
_TREND_COLUMNS = ("period_start", "n", "p_s", "compliance")


def _window_rows(snap, f, tmap) -> list[tuple[str, dict[str, dict]]]:
    """(label, {metric: row}) for the last 24 h / 7 d / 30 d and the selected period."""
    end = latest_date(snap, f.agency)
    wins = []
    if end is not None:
        for label, days in _WINDOWS:
            ff = f.with_(date_from=end - timedelta(days=days - 1), date_to=end)
            wins.append((label, _by_metric(interval_table(snap, ff, tmap, always=True))))
    wins.append(("selected period", _by_metric(interval_table(snap, f, tmap, always=True))))
    return wins


def _trend_rows(snap, f, tmap, freq) -> pl.DataFrame:
    unit = _PERIOD.get(freq)
    if unit is None:
        raise ValueError(f"`freq` {freq!r} must be day, week or month")
    period = f"date_trunc('{unit}', s.local_date)::date"
    return interval_table(snap, f, tmap, keys={"period_start": period})


def _windows_frame(wins, metric: str) -> pl.DataFrame:
    rows = [{"window": lbl, **_summary(r.get(metric))} for lbl, r in wins]
    return pl.DataFrame([{k: r[k] for k in _WINDOW_SCHEMA} for r in rows], schema=_WINDOW_SCHEMA)


def _overview_stats(snap, f, targets, freq):
    tmap = {m: targets.get(m, (None, 90.0)) for m in INTERVALS}
    wins = _window_rows(snap, f, tmap)
    trends = _trend_rows(snap, f, tmap, freq if freq in _PERIOD else "week")
    selected = wins[-1][1]
    return {
        m: {
            "summary": _summary(selected.get(m)),
            "windows": _windows_frame(wins, m),
            "trend": trends.filter(pl.col("metric") == m).select(_TREND_COLUMNS),
        }
        for m in tmap
    }


@shared("latest_date")
def latest_date(snap: Snapshot, agency: str | None = None):
    """Newest local date of the agency's calls (every call when None): the 'now' of relative
    windows."""
    if agency is None:
        return snap.query("select max(local_date) as d from inc")["d"][0]
    return snap.query("select max(local_date) as d from inc where agency = $a", {"a": agency})["d"][
        0
    ]


def windows_summary(
    snap: Snapshot, f: Filters, metric: str, target_s: Target, pct: float = 90
) -> pl.DataFrame:
    """The same interval over the last 24 h / 7 d / 30 d (ending at the newest incident)
    beside the filtered period."""
    return _windows_frame(_window_rows(snap, f, {metric: (target_s, pct)}), metric)


def trend(
    snap: Snapshot, f: Filters, metric: str, target_s: Target, pct: float = 90, freq: str = "month"
) -> pl.DataFrame:
    """Percentile and compliance of an interval per period (``day``, ``week``, ``month``)."""
    return _trend_rows(snap, f, {metric: (target_s, pct)}, freq).select(_TREND_COLUMNS)


def trends(
    snap: Snapshot, f: Filters, targets: dict[str, tuple[Target, float]], freq: str = "month"
) -> dict[str, pl.DataFrame]:
    """:func:`trend` of every interval, from one fractile query (not one per interval);
    cached per data version and filters. Intervals missing from ``targets`` get no target."""
    return _trends_shared(snap, f, tuple(sorted(targets.items())), freq)


@shared("trends")
def _trends_shared(snap: Snapshot, f: Filters, targets: tuple, freq: str) -> dict:
    tmap = {m: dict(targets).get(m, (None, 90.0)) for m in INTERVALS}
    df = _trend_rows(snap, f, tmap, freq)
    return {m: df.filter(pl.col("metric") == m).select(_TREND_COLUMNS) for m in tmap}


@shared("heatmap")
def heatmap(
    snap: Snapshot, f: Filters, metric: str | None = None, target_s: float = 0, pct: float = 90
) -> pl.DataFrame:
    """Incidents (and the interval percentile) by local hour x ISO weekday."""
    if metric:
        keys = {"weekday": "s.local_weekday", "hour": "s.local_hour"}
        df = interval_table(snap, f, {metric: (target_s, pct)}, keys=keys)
        return df.select("weekday", "hour", pl.col("volume").alias("n"), "p_s")
    where, params = where_sql(f)
    return snap.query(
        "select local_weekday as weekday, local_hour as hour, count(*) as n "
        f"from inc where {where} group by 1, 2 order by 1, 2",
        params,
    )


@shared("volume_by_category")
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


@shared("zone_stats")
def zone_stats(
    snap: Snapshot, f: Filters, layer: str, metric: str, target_s: Target, pct: float = 90
) -> pl.DataFrame:
    """Per zone of a layer: volume, n, percentile, compliance and gap to target."""
    zc = _layer_col(snap, layer)
    df = interval_table(
        snap, f, {metric: (target_s, pct)}, keys={"zone_id": f"s.{zc}"}, where=f"{zc} is not null"
    )
    one = single_target(target_s)
    return df.select(
        "zone_id",
        "volume",
        "n",
        "p_s",
        "compliance",
        (pl.col("p_s") - one if one is not None else pl.lit(None, pl.Float64)).alias("gap_s"),
    )


_BREAKDOWN_SCHEMA = {"interval": pl.String, "n": pl.Int64, "p_s": pl.Float64}
_BREAKDOWN_SCHEMA |= {"target": pl.String, "compliance": pl.Float64}


@shared("zone_breakdown")
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
    tmap = {m: (targets.get(m), pct) for m in INTERVALS}
    got = _by_metric(
        interval_table(snap, f, tmap, where=f"{zc} = $zone", params={"zone": zone_id}, always=True)
    )
    rows = []
    for metric, (label, _s, _e) in INTERVALS.items():
        t, r = targets.get(metric), _summary(got.get(metric))
        rows.append(
            {
                "interval": label,
                "n": r["n"],
                "p_s": r["p_s"],
                "target": target_label(t),
                "compliance": r["compliance"] if t is not None else None,
            }
        )
    return pl.DataFrame(rows, schema=_BREAKDOWN_SCHEMA)


def _run_query(snap: Snapshot, name: str, params: dict, **kw) -> pl.DataFrame:
    """A query of the library's SQL, on a cursor of the snapshot."""
    with snap.cursor() as cur:
        return run_query(cur, name, params, **kw)


def _turnout_targets(t: Target) -> dict[str, float | None]:
    """The ``unit_turnout`` query's class targets from a dashboard target: ems calls, and
    every other category (the fire class); None = the query's default."""
    if t is None or isinstance(t, (int, float)):
        one = None if t is None else float(t)
        return {"ems_target_s": one, "fire_target_s": one}
    by = {cat: float(sec) for cat, sec in t}
    default = by.get(None)
    return {
        "ems_target_s": by.get("ems", default),
        "fire_target_s": by.get("fire", by.get("other", default)),
    }


def unit_turnout(
    snap: Snapshot, f: Filters, target_s: Target, pct: float = 90, top: int = 40
) -> pl.DataFrame:
    """Turnout per unit and turnout class (the library's ``unit_turnout`` query over the
    filtered responses): ``unit_id`` (``"E01 · fire"``), ``unit``, ``turnout_class``,
    ``unit_type``, n, p_s, compliance, target_s, flag; most responses first. Cached per
    data version and filters, for every worker."""
    return _unit_turnout(snap, f, target_s, float(pct), int(top))


@shared("unit_turnout")
def _unit_turnout(snap: Snapshot, f: Filters, target_s: Target, pct: float, top: int):
    where, params = where_sql(f)
    rows = interval_rows_sql(
        "units",
        intervals("unit", stored=True),
        ["agency", "incident_id", "unit_id", "unit_type", "station_id", "call_category"],
        where=where,
    )
    df = _run_query(
        snap,
        "unit_turnout",
        {**_turnout_targets(target_s), "percentile": pct},
        sources={"unit_intervals": rows},
        source_params=params,
    )
    return (
        df.sort(["n", "unit_id", "turnout_class"], descending=[True, False, False])
        .head(int(top))
        .select(
            (pl.col("unit_id") + " · " + pl.col("turnout_class")).alias("unit_id"),
            pl.col("unit_id").alias("unit"),
            "turnout_class",
            "unit_type",
            "n",
            pl.col("p_value_s").alias("p_s"),
            "compliance",
            "target_s",
            "flag",
        )
    )


def first_due_reliability(snap: Snapshot, f: Filters, layer: str) -> pl.DataFrame:
    """Per station area (a zone layer whose zone ids are station ids): the share of its
    incidents whose first-arriving unit came from that station (the library's
    ``first_due_reliability`` query over the filtered incidents). Cached per data version
    and filters."""
    _layer_col(snap, layer)
    return _first_due_reliability(snap, f, layer)


@shared("first_due_reliability")
def _first_due_reliability(snap: Snapshot, f: Filters, layer: str) -> pl.DataFrame:
    zc = _layer_col(snap, layer)
    where, params = where_sql(f)
    # the query keeps only the responses and zones of the incidents it is given
    df = _run_query(
        snap,
        "first_due_reliability",
        {"station_layer": layer},
        sources={
            "incidents": "select agency, incident_id, first_arriving_unit, "
            f"received_local as call_received_local_at from inc where {where}",
            "responses": "select agency, incident_id, unit_id, station_id from units",
            "incident_zones": "select agency, incident_id, $station_layer as layer, "
            f"{zc} as zone_id from inc",
        },
        source_params=params,
    )
    return df.filter(pl.col("zone_id").is_not_null()).select(
        pl.col("zone_id").alias("station_area"),
        pl.col("n_arrived").alias("n"),
        pl.col("reliability").alias("first_due_share"),
        "n_incidents",
        "n_first_due_assigned",
        "first_due_assigned_share",
    )


@shared("unit_workload")
def unit_workload(snap: Snapshot, f: Filters, top: int = 40) -> pl.DataFrame:
    """Responses and committed hours per unit."""
    where, params = where_sql(f)
    return snap.query(
        f"select unit_id, count(*) as responses, sum(busy_s) / 3600 as committed_h "
        f"from units where {where} group by 1 order by responses desc, unit_id limit {int(top)}",
        params,
    )
