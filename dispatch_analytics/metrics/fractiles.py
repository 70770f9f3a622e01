"""Response-time fractiles, their confidence intervals and compliance with standards.

The analysis object :class:`Fractiles` (in the style of spopt / esda: build it with
``Fractiles.from_store(...)``, read the results from its attributes)::

    from dispatch_analytics.metrics import Fractiles
    f = Fractiles.from_store(con, metric="total_response", by=("layer:neighborhoods", "month"),
                             target_s=480)
    f.table          # polars: zone_id, period_start, n, mean_s, p50_s, p90_s, p95_s, percentile,
                     #         p_value_s, ci_low_s, ci_high_s, target_s, compliance, met, flag
    f.start_field, f.end_field, f.method, f.profile, f.notes, f.sql

The numbers come from DuckDB SQL generated here, which uses the same macros as the analyst
queries in ``queries/`` (``queries/_macros.sql``: nearest-rank index, order-statistic CI ranks,
flags). :func:`nearest_rank`, :func:`order_statistic_ci` and :func:`fractiles_polars` are the same
rules in pure Python / Polars; the tests check that all three engines agree exactly.

Rules (identical in every engine):

* **Percentile: nearest-rank.** The p-th percentile of n values is the value at 1-based rank
  ``ceil(p / 100 * n)`` of the sorted values (the smallest value with at least p% of the
  values at or below it), computed in exact integer arithmetic with p resolved to 1e-6 of a
  percent. It is always an observed value, so "p-th percentile <= target" holds exactly when
  "compliance >= p%" (compliance = share of values <= target).
* **95% CI: distribution-free, from order statistics.** With B the binomial(n, p/100) CDF and
  a = (1 - conf) / 2, the interval is [X(l), X(u)] with l the largest rank such that
  B(l - 1) <= a and u the smallest rank such that B(u - 1) >= 1 - a; its coverage
  B(u - 1) - B(l - 1) is at least conf. A rank outside 1..n means the sample is too small to
  bound that side at this confidence: that bound is NULL (unbounded) and flag is
  ``ci_unbounded``. Comparisons allow 1e-9 of rounding slack.
* **Flag:** ``no_data`` (n = 0), else ``small_sample`` (n < min_n, default 30), else
  ``ci_unbounded``, else NULL.
* Fractiles of different intervals are never added: each metric is computed from its own
  distribution.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

import duckdb
import polars as pl

from ..errors import MetricError
from .queries import known_layers, prepare
from .standards import (
    METRICS,
    PERCENTILE_METHOD,
    MetricDef,
    Standard,
    StandardError,
    TargetSpec,
    load_standard,
    metric_def,
    metric_names,
)

__all__ = [
    "MetricError",
    "METHOD",
    "CI_METHOD",
    "DEFAULT_MIN_N",
    "PERIODS",
    "DIMENSIONS",
    "CIRanks",
    "nr_rank",
    "nearest_rank",
    "order_statistic_ci",
    "fractile_flag",
    "fractiles_polars",
    "Fractiles",
    "first_due_comparison",
]

METHOD = PERCENTILE_METHOD
CI_METHOD = (
    "distribution-free order-statistic CI: ranks l = max{l: B(l-1) <= a}, "
    "u = min{u: B(u-1) >= 1-a}, B = binomial(n, p) CDF, a = (1-conf)/2; "
    "NULL bound when its rank is outside 1..n"
)
DEFAULT_MIN_N = 30
CI_TOLERANCE = 1e-9
_PCT_SCALE = 1_000_000  # percentiles are resolved to 1e-6 of a percent
PERIODS = ("day", "week", "month", "quarter", "year")
#: grouping dimensions besides ``layer:<name>`` and the periods
DIMENSIONS = (
    "hour",
    "weekday",
    "call_category",
    "call_type",
    "priority",
    "unit",
    "unit_type",
    "station",
)


# ---------------------------------------------------------------------------------- statistics
def _check_pct(p: float) -> float:
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0 < p <= 100:
        raise MetricError(f"percentile must be a number in (0, 100], got {p!r}")
    return float(p)


def nr_rank(n: int, p: float) -> int | None:
    """1-based nearest-rank index of the p-th percentile (p in percent) among n values:
    ``ceil(p / 100 * n)`` in exact integer arithmetic; None when n = 0."""
    p = _check_pct(p)
    if n <= 0:
        return None
    pm = round(p * _PCT_SCALE)
    return max(1, -(-pm * n // (100 * _PCT_SCALE)))


def _clean(values: Iterable[Any]) -> list[float]:
    out = []
    for v in values:
        if v is None:
            continue
        f = float(v)
        if math.isnan(f):
            continue
        out.append(f)
    return out


def nearest_rank(values: Iterable[Any], p: float) -> float | None:
    """The nearest-rank p-th percentile (p in percent): the smallest value with at least p% of
    the values at or below it. None / NaN values are ignored; None for no values. Equals
    ``numpy.percentile(values, p, method="inverted_cdf")``."""
    xs = sorted(_clean(values))
    r = nr_rank(len(xs), p)
    return None if r is None else xs[r - 1]


class CIRanks(NamedTuple):
    """1-based ranks of the CI bounds in the sorted sample; None = unbounded on that side."""

    low: int | None
    high: int | None


@lru_cache(maxsize=4096)
def order_statistic_ci(n: int, p: float, conf: float = 0.95) -> CIRanks:
    """Ranks (l, u) of the distribution-free ``conf`` confidence interval of the p-th percentile
    (p in percent) of n values: l is the largest rank with B(l - 1) <= a, u the smallest with
    B(u - 1) >= 1 - a, where B is the binomial(n, p / 100) CDF and a = (1 - conf) / 2, so
    P(X(l) <= Q_p <= X(u)) >= conf. Ranks outside 1..n (sample too small for that side) are
    None. Same arithmetic as the SQL macro ``da_os_ci_ranks`` (1e-9 slack on comparisons)."""
    p = _check_pct(p)
    if not 0 < conf < 1:
        raise MetricError(f"conf must be in (0, 1), got {conf!r}")
    if n <= 0 or p >= 100:
        return CIRanks(None, None)
    q = p / 100
    lq, l1q = math.log(q), math.log(1 - q)
    a = (1 - conf) / 2
    lo_lim, hi_lim = a + CI_TOLERANCE, 1 - a - CI_TOLERANCE
    lg_n = math.lgamma(n + 1)
    # the same window as the SQL macro: k within 12 sd (+10) of n q; below it B(k) < 1e-20
    sd = math.sqrt(n * q * (1 - q))
    k_lo = max(0, math.floor(n * q - 12 * sd - 10))
    k_hi = min(n, math.ceil(n * q + 12 * sd + 10))
    cdf, low, high = 0.0, k_lo, None
    for k in range(k_lo, k_hi + 1):
        cdf += math.exp(lg_n - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * lq + (n - k) * l1q)
        if cdf <= lo_lim:
            low += 1
        if cdf >= hi_lim:
            high = k + 1
            break
    return CIRanks(low if low >= 1 else None, high if high is not None and high <= n else None)


def fractile_flag(n: int, min_n: int, ci_low: Any, ci_high: Any) -> str | None:
    """``no_data`` / ``small_sample`` / ``ci_unbounded`` / None (in that priority)."""
    if n == 0:
        return "no_data"
    if n < min_n:
        return "small_sample"
    if ci_low is None or ci_high is None:
        return "ci_unbounded"
    return None


def _pcol(p: float) -> str:
    return f"p{p:g}_s".replace(".", "_")


def fractiles_polars(
    df: pl.DataFrame,
    value_col: str,
    by: Sequence[str] = (),
    percentiles: Sequence[float] = (50, 90, 95),
    target_s: float | str | None = None,
    percentile: float = 90,
    min_n: int = DEFAULT_MIN_N,
    conf: float = 0.95,
) -> pl.DataFrame:
    """The fractile table in pure Polars (no DuckDB): one row per group of ``by``.

    Columns: ``by...``, n, n_missing (null / NaN values), mean_s (of finite values), ``p50_s``... for ``percentiles``,
    percentile, p_value_s (the ``percentile``-th), ci_low_s, ci_high_s (its CI), target_s,
    compliance (share <= target_s), met (p_value_s <= target_s), flag. ``target_s`` may be a
    number or the name of a column holding each row's target (constant within a group). Null
    and NaN values are not counted (a group of only those has n = 0). With ``by=()`` there is
    always exactly one row.
    """
    for p in [*percentiles, percentile]:
        _check_pct(p)
    by = list(by)
    tcol = target_s if isinstance(target_s, str) else None
    d = df.select(
        *[pl.col(c) for c in by],
        pl.col(value_col).cast(pl.Float64).fill_nan(None).alias("_v"),
        (pl.col(tcol) if tcol else pl.lit(target_s)).cast(pl.Float64).alias("_t"),
    )
    aggs = [
        pl.col("_v").count().alias("n"),
        pl.col("_v").null_count().alias("n_missing"),
        pl.col("_v").filter(pl.col("_v").is_finite()).mean().alias("mean_s"),
        (pl.col("_v") <= pl.col("_t")).sum().alias("_ok"),
        pl.col("_t").first().alias("target_s"),
    ]
    xs = pl.col("_v").drop_nulls().sort().alias("_xs")
    g = d.group_by(by).agg(*aggs, xs) if by else d.select(*aggs, xs.implode())
    rows = []
    for r in g.iter_rows(named=True):
        xs, n = r["_xs"], r["n"]
        out = {c: r[c] for c in by}
        out["n"] = n
        out["n_missing"] = r["n_missing"]
        out["mean_s"] = r["mean_s"]
        for p in percentiles:
            k = nr_rank(n, p)
            out[_pcol(p)] = xs[k - 1] if k else None
        k = nr_rank(n, percentile)
        out["percentile"] = float(percentile)
        out["p_value_s"] = xs[k - 1] if k else None
        lo, hi = order_statistic_ci(n, percentile, conf)
        out["ci_low_s"] = xs[lo - 1] if lo else None
        out["ci_high_s"] = xs[hi - 1] if hi else None
        t = r["target_s"]
        out["target_s"] = t
        out["compliance"] = r["_ok"] / n if n > 0 and t is not None else None
        out["met"] = (
            (out["p_value_s"] <= t) if out["p_value_s"] is not None and t is not None else None
        )
        out["flag"] = fractile_flag(n, min_n, out["ci_low_s"], out["ci_high_s"])
        rows.append(out)
    schema: dict[str, Any] = {c: df.schema[c] for c in by}
    schema.update({"n": pl.Int64, "n_missing": pl.Int64, "mean_s": pl.Float64})
    schema.update({_pcol(p): pl.Float64 for p in percentiles})
    schema.update(
        {
            "percentile": pl.Float64,
            "p_value_s": pl.Float64,
            "ci_low_s": pl.Float64,
            "ci_high_s": pl.Float64,
            "target_s": pl.Float64,
            "compliance": pl.Float64,
            "met": pl.Boolean,
            "flag": pl.String,
        }
    )
    out = pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
    return out.sort(by, nulls_last=True) if by else out


# ----------------------------------------------------------------------------- SQL generation
_INCIDENT_COLUMN = {
    "alarm_answering": "alarm_answering_s",
    "call_processing": "call_processing_s",
    "turnout": "turnout_s",
    "travel": "travel_s",
    "total_response": "total_response_s",
}
_UNIT_COLUMN = {"turnout": "turnout_s", "travel": "travel_s", "response": "response_s"}

_LOCAL = "b.call_received_local_at"  # stored at ingest: no per-row zone lookup
_DIM_SQL = {
    "hour": f"hour({_LOCAL})",
    "weekday": f"isodow({_LOCAL})",
    "call_category": "b.call_category",
    "call_type": "b.call_type",
    "priority": "b.priority",
    "unit": "b.unit",
    "unit_type": "b.unit_type",
    "station": "b.station",
}


def _lit(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(float(v)) if isinstance(v, float) else str(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_lit(x) for x in v) + "]"
    return "'" + str(v).replace("'", "''") + "'"


def _base_sql(family: str, mdef: MetricDef) -> str:
    """One row per incident (or unit response) with dimension columns and value_s."""
    if family == "incident":
        col = _INCIDENT_COLUMN[mdef.name]
        return f"""
  select
    i.incident_id, i.call_category, i.call_type, i.priority, i.station_id as station,
    i.first_arriving_unit as unit, fa.unit_type, i.call_received_at, i.call_received_local_at, i.timezone,
    i.{col} as value_s
  from incidents i
  left join responses fa on fa.incident_id = i.incident_id and fa.unit_id = i.first_arriving_unit"""
    if family == "unit":
        col = _UNIT_COLUMN[mdef.name]
        return f"""
  select
    r.incident_id, r.call_category, r.call_type, r.priority, r.station_id as station,
    r.unit_id as unit, r.unit_type, r.call_received_at, r.call_received_local_at, r.timezone,
    r.{col} as value_s
  from responses r"""
    if family == "first_due":
        value = (
            "fd.travel_s"
            if mdef.name == "first_due_travel"
            else "(epoch_us(fd.on_scene_at) - epoch_us(i.call_received_at)) / 1e6"
        )
        return f"""
  with first_due_area as (
    select incident_id, zone_id as first_due_station
    from incident_zones
    where layer = $station_layer
  ), first_due_unit as (
    select
      r.incident_id, r.unit_id, r.unit_type, r.on_scene_at, r.travel_s,
      row_number() over (partition by r.incident_id
                         order by r.dispatched_at asc nulls last, r.unit_id) as unit_order
    from responses r
    join first_due_area a on a.incident_id = r.incident_id and r.station_id = a.first_due_station
  )
  select
    i.incident_id, i.call_category, i.call_type, i.priority, a.first_due_station as station,
    fd.unit_id as unit, fd.unit_type, i.call_received_at, i.call_received_local_at, i.timezone, {value} as value_s
  from incidents i
  left join first_due_area a on a.incident_id = i.incident_id
  left join first_due_unit fd on fd.incident_id = i.incident_id and fd.unit_order = 1"""
    if family == "erf":
        start = "i.call_received_at" if mdef.name == "erf_assembly" else "i.first_enroute_at"
        return f"""
  with unit_staff as (
    select
      r.incident_id, r.unit_id, r.on_scene_at,
      coalesce(s.staff, $default_staff) as staff
    from responses r
    left join (select unnest($staff_types) as unit_type, unnest($staff_counts) as staff) s
      on s.unit_type = upper(r.unit_type)
    where r.on_scene_at is not null
  ), cumulative as (
    select
      incident_id, on_scene_at,
      sum(staff) over (partition by incident_id order by on_scene_at, unit_id
                       rows between unbounded preceding and current row) as cum_staff
    from unit_staff
  ), arrivals as (
    select incident_id,
      list({{'at': on_scene_at, 'cum_staff': cum_staff}} order by on_scene_at, cum_staff)
        as arrivals
    from cumulative
    group by incident_id
  )
  select
    i.incident_id, i.call_category, i.call_type, i.priority, i.station_id as station,
    i.first_arriving_unit as unit, fa.unit_type, i.call_received_at, i.call_received_local_at, i.timezone,
    {start} as start_at, a.arrivals
  from incidents i
  left join arrivals a on a.incident_id = i.incident_id
  left join responses fa on fa.incident_id = i.incident_id and fa.unit_id = i.first_arriving_unit"""
    raise AssertionError(family)


def _family(mdef: MetricDef) -> str:
    if mdef.level == "unit":
        return "unit"
    if mdef.name.startswith("first_due_"):
        return "first_due"
    if mdef.name.startswith("erf_"):
        return "erf"
    return "incident"


@dataclass
class _Entry:
    standard: str | None
    target_s: float | None
    pct: float
    call_category: tuple[str, ...] | None = None
    unit_type: tuple[str, ...] | None = None
    staff: int | None = None
    density_class: str | None = None
    target_note: str | None = None
    baseline_s: float | None = None


@dataclass
class _Group:
    kind: str  # layer | period | dim
    value: str
    column: str
    expr: str = ""


def _parse_by(by: Sequence[str] | str, layers: list[str]) -> list[_Group]:
    if isinstance(by, str):
        by = (by,)
    out: list[_Group] = []
    n_layers = sum(1 for b in by if isinstance(b, str) and b.startswith("layer:"))
    valid = (
        "layer:<name> (layers: "
        + (", ".join(layers) or "none loaded")
        + "), "
        + ", ".join(PERIODS)
        + ", "
        + ", ".join(DIMENSIONS)
    )
    for item in by:
        if not isinstance(item, str):
            raise MetricError(f"grouping must be text, got {item!r}; valid: {valid}")
        s = item.strip()
        if s.startswith("layer:"):
            layer = s[len("layer:") :]
            if layer not in layers:
                raise MetricError(
                    f"unknown layer {layer!r}; valid layers: {', '.join(layers) or '(none loaded)'}"
                )
            col = "zone_id" if n_layers == 1 else f"zone_id_{layer}"
            out.append(_Group("layer", layer, col))
        elif s.removeprefix("period:") in PERIODS:
            if any(g.kind == "period" for g in out):
                raise MetricError(f"only one period allowed in by, got {list(by)}")
            p = s.removeprefix("period:")
            out.append(
                _Group("period", p, "period_start", f"cast(date_trunc('{p}', {_LOCAL}) as date)")
            )
        elif s in DIMENSIONS:
            out.append(_Group("dim", s, s, _DIM_SQL[s]))
        else:
            raise MetricError(f"unknown grouping {item!r}; valid: {valid}")
    cols = [g.column for g in out]
    if len(set(cols)) != len(cols):
        raise MetricError(f"duplicate grouping in {list(by)}")
    return out


_FILTER_KEYS = (
    "call_category",
    "call_type",
    "priority",
    "unit",
    "unit_type",
    "station",
    "hour",
    "weekday",
    "since",
    "until",
)


def _connection(con: Any) -> duckdb.DuckDBPyConnection:
    if isinstance(con, duckdb.DuckDBPyConnection):
        return con
    if hasattr(con, "connect"):  # a Store
        return con.connect(read_only=True)
    raise MetricError(f"expected a DuckDB connection or a Store, got {type(con).__name__}")


@dataclass
class Fractiles:
    """Fractiles, CI and compliance of one response interval, grouped. Build with
    :meth:`from_store`; the results are attributes.

    Attributes
    ----------
    table : polars.DataFrame
        Group columns (``zone_id``, ``period_start``, ``hour``...; ``standard`` when the profile
        has several targets for the metric, ``density_class`` for NFPA 1720 demand zones), then
        ``n, n_missing, [n_unmet], mean_s, p50_s, p90_s, p95_s`` (one per requested percentile),
        ``percentile, p_value_s, ci_low_s, ci_high_s, target_s, [baseline_s], compliance, met,
        flag, [target_note]``.
    metric, level, start_field, end_field, basis : str
        What was measured: the interval's timestamps and which unit they come from.
    percentile : float or None
        The percentile compared with the target (None if entries differ: see the table).
    percentiles : tuple
    method : str
        ``"nearest-rank"``.
    ci_method : str
    profile : str or None
        The standards profile name.
    entries : list of TargetSpec
        The profile entries applied (targets, filters).
    notes : list of str
        Assumptions and exclusions, to print with the table.
    sql, params :
        The SQL that produced the table and its parameters.
    """

    table: pl.DataFrame
    metric: str
    level: str
    start_field: str
    end_field: str
    basis: str
    percentile: float | None
    percentiles: tuple[float, ...]
    method: str = METHOD
    ci_method: str = CI_METHOD
    conf: float = 0.95
    profile: str | None = None
    standard: Standard | None = None
    entries: list[TargetSpec] = field(default_factory=list)
    target_s: float | None = None
    by: tuple[str, ...] = ()
    filters: dict[str, Any] = field(default_factory=dict)
    min_n: int = DEFAULT_MIN_N
    notes: list[str] = field(default_factory=list)
    sql: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def metadata(self) -> dict[str, Any]:
        """Everything an output must state: profile, timestamps, percentile method, notes."""
        return {
            "metric": self.metric,
            "level": self.level,
            "start": self.start_field,
            "end": self.end_field,
            "basis": self.basis,
            "percentile": self.percentile,
            "percentiles": list(self.percentiles),
            "method": self.method,
            "ci_method": self.ci_method,
            "conf": self.conf,
            "profile": self.profile,
            "entries": [e.key for e in self.entries],
            "target_s": self.target_s,
            "by": list(self.by),
            "filters": {
                k: (str(v) if isinstance(v, dt.date) else v) for k, v in self.filters.items()
            },
            "min_n": self.min_n,
            "notes": list(self.notes),
        }

    def __repr__(self) -> str:
        return (
            f"Fractiles(metric={self.metric!r}, level={self.level!r}, "
            f"{self.start_field} -> {self.end_field}, method={self.method!r}, "
            f"profile={self.profile!r}, rows={self.table.height})"
        )

    # -------------------------------------------------------------------------- construction
    @classmethod
    def from_store(
        cls,
        con: Any,
        metric: str = "total_response",
        by: Sequence[str] | str = (),
        percentiles: Sequence[float] = (50, 90, 95),
        target_s: float | None = None,
        profile: str | Standard | None = "nfpa1710",
        level: str = "incident",
        filters: dict[str, Any] | None = None,
        min_n: int = DEFAULT_MIN_N,
        percentile: float | None = None,
        conf: float = 0.95,
        station_layer: str | None = None,
        density_layer: str | None = None,
        staffing: dict[str, int] | None = None,
        staff: int | None = None,
        overrides: str | dict | None = None,
        entry: str | None = None,
    ) -> Fractiles:
        """Compute the fractile table from a connection with the catalog views.

        Parameters
        ----------
        con : DuckDB connection with the catalog views (or a Store)
        metric : str
            ``alarm_answering, call_processing, turnout, travel, total_response,
            first_due_travel, first_due_total_response, erf_assembly, erf_travel`` (incident
            level) or ``turnout, travel, response`` (``level='unit'``); or the name of an entry
            of the profile (e.g. ``turnout_ems``).
        by : groupings
            ``layer:<name>``, a period (``day, week, month, quarter, year``: local period start),
            ``hour``, ``weekday`` (local, ISO 1 = Monday), ``call_category``, ``call_type``,
            ``priority``, ``unit``, ``unit_type``, ``station``. At incident level ``unit`` and
            ``unit_type`` are the first-arriving unit's (the first-due unit's for first_due_*),
            ``station`` is ``incidents.station_id``.
        percentiles : the fractile columns to report (nearest-rank)
        target_s : float, optional
            An explicit target: replaces the profile's targets (and their filters).
        profile : standards profile name / path / Standard, or None
            Supplies target_s, percentile and call-category / unit-type filters for the metric.
            When it holds several entries for the metric (e.g. turnout_ems and turnout_fire),
            each is a row group, named in a ``standard`` column.
        level : ``incident`` or ``unit``
        filters : dict
            ``{dimension: value or list}`` for call_category, call_type, priority, unit,
            unit_type, station, hour, weekday; ``since`` / ``until`` bound call_received_at.
        min_n : smaller groups are flagged ``small_sample``
        percentile : the percentile compared with the target (default: the profile's, else 90)
        station_layer : zone layer of first-due station areas (first_due_* metrics); its
            zone_id must be the station_id of the area's station
        density_layer : zone layer whose ``zones.density_class`` gives NFPA 1720 demand zones
        staffing : ``{unit_type: staff}`` for erf_* (default: the profile's ``[staffing]``)
        staff : the effective response force to assemble (default: the profile entry's)
        overrides : config TOML path or dict applied to the profile (see load_standard)
        entry : use only this entry of the profile (its metric, level, target and filters)
        """
        con = _connection(con)
        prepare(con)
        filters = dict(filters or {})
        for p in percentiles:
            _check_pct(p)
        if percentile is not None:
            _check_pct(percentile)
        if min_n < 0:
            raise MetricError(f"min_n must be >= 0, got {min_n}")
        if not 0 < conf < 1:
            raise MetricError(f"conf must be in (0, 1), got {conf!r}")

        std: Standard | None = None
        if profile is not None:
            try:
                std = load_standard(profile, overrides)
            except StandardError as exc:
                raise MetricError(str(exc)) from None

        # metric (or a profile entry name)
        entry_specs: list[TargetSpec] | None = None
        if entry is not None:
            if std is None:
                raise MetricError(f"entry={entry!r} needs a profile")
            if not std.has_entry(entry):
                raise MetricError(
                    f"profile {std.name} has no entry {entry!r}; entries: {', '.join(std.keys)}"
                )
            metric = entry
        if (
            (entry is not None or (metric, level) not in METRICS)
            and std is not None
            and std.has_entry(metric)
        ):
            spec = std.entry(metric)
            entry_specs = [spec]
            metric, level = spec.metric, spec.level
        try:
            mdef = metric_def(metric, level)
        except StandardError as exc:
            extra = f"; profile {std.name} entries: {', '.join(std.keys)}" if std else ""
            raise MetricError(f"{exc}{extra}") from None
        family = _family(mdef)

        layers = known_layers(con)
        groups = _parse_by(by, layers)
        notes: list[str] = []
        if family == "incident" and metric in ("turnout", "travel"):
            notes.append(
                f"incident-level {metric} is the first-arriving unit's (start and end "
                "from the same unit)"
            )
        if family == "first_due":
            if station_layer is None:
                raise MetricError(
                    f"metric {metric} needs station_layer=<zone layer of first-due "
                    f"station areas>; valid layers: "
                    f"{', '.join(layers) or '(none loaded)'}"
                )
            if station_layer not in layers:
                raise MetricError(
                    f"unknown station_layer {station_layer!r}; valid layers: "
                    f"{', '.join(layers) or '(none loaded)'}"
                )
            notes.append(
                f"first-due unit: the earliest-dispatched unit whose responses.station_id "
                f"equals the incident's zone_id in layer {station_layer} (assumes zone_id "
                "= station_id and station_id = the unit's home station); incidents "
                "whose first-due station sent no arriving unit are not counted"
            )

        # targets
        if entry_specs is None:
            entry_specs = std.entries(metric, level) if std is not None else []
        entries: list[_Entry] = []
        if target_s is not None:
            if isinstance(target_s, bool) or not isinstance(target_s, int | float):
                raise MetricError(f"target_s must be a number of seconds, got {target_s!r}")
            e_staff = (
                staff
                if staff is not None
                else next((s.staff for s in entry_specs if s.staff), None)
            )
            entries = [_Entry(None, float(target_s), percentile or 90.0, staff=e_staff)]
            entry_specs = []
        elif not entry_specs:
            entries = [_Entry(None, None, percentile or 90.0, staff=staff)]
        else:
            for s in entry_specs:
                if s.by_density_class:
                    assert std is not None
                    for z in std.demand_zones.values():
                        entries.append(
                            _Entry(
                                s.key,
                                z.target_s,
                                percentile or z.percentile,
                                s.call_category,
                                s.unit_type,
                                staff or z.staff,
                                z.name,
                                z.target_note,
                                s.baseline_s,
                            )
                        )
                else:
                    entries.append(
                        _Entry(
                            s.key,
                            s.target_s,
                            percentile or s.percentile,
                            s.call_category,
                            s.unit_type,
                            staff or s.staff,
                            baseline_s=s.baseline_s,
                        )
                    )
            for s in entry_specs:
                flt = []
                if s.call_category:
                    flt.append("call_category in (" + ", ".join(s.call_category) + ")")
                if s.unit_type:
                    flt.append("unit_type in (" + ", ".join(s.unit_type) + ")")
                notes.append(
                    f"profile {std.name if std else ''} entry {s.key}: "
                    + (
                        "target by demand zone"
                        if s.by_density_class
                        else f"target {s.target_s:g} s"
                        if s.target_s is not None
                        else "no target"
                    )
                    + (f", only {' and '.join(flt)}" if flt else "")
                )
        uses_density = any(e.density_class for e in entries)
        if uses_density:
            if density_layer is None:
                dens = ", ".join(std.demand_zones) if std else ""
                raise MetricError(
                    f"profile {std.name if std else ''} sets {metric} targets by "
                    f"demand zone ({dens}); pass density_layer=<zone layer with "
                    f"zones.density_class>; valid layers: "
                    f"{', '.join(layers) or '(none loaded)'}"
                )
            if density_layer not in layers:
                raise MetricError(
                    f"unknown density_layer {density_layer!r}; valid layers: "
                    f"{', '.join(layers) or '(none loaded)'}"
                )
            notes.append(
                f"demand zone = zones.density_class of the incident's zone in layer "
                f"{density_layer}; incidents without one are not counted"
            )
        if family == "erf":
            if staffing is None:
                staffing = dict(std.staffing) if std is not None and std.staffing else None
            if not staffing:
                raise MetricError(
                    f"metric {metric} needs a staffing config: staffing="
                    "{unit_type: staff} (or a profile with [staffing])"
                )
            if any(e.staff is None for e in entries):
                raise MetricError(
                    f"metric {metric} needs the effective response force: staff=N "
                    "(or a profile entry with staff / demand zones)"
                )
            notes.append(
                "effective response force: units on scene in arrival order, cumulative "
                "staff from staffing "
                + ", ".join(f"{k}={v}" for k, v in sorted(staffing.items()))
                + "; incidents where units arrived but the staff never reached the "
                "force count as not meeting the target (value +inf, column n_unmet); "
                "incidents with no unit on scene are not counted"
            )
        default_staff = 0
        if family == "erf" and std is not None:
            default_staff = std.default_staff
        if family == "erf" and staffing is not None and "default" in staffing:
            default_staff = int(staffing["default"])

        params: dict[str, Any] = {"min_n": min_n, "conf": conf}
        sql = _build_sql(
            family,
            mdef,
            groups,
            entries,
            filters,
            percentiles,
            params,
            station_layer,
            density_layer,
            staffing,
            default_staff,
        )
        try:
            table = con.execute(sql, params).pl()
        except duckdb.Error as exc:
            raise MetricError(f"metric SQL failed: {str(exc).strip()}") from exc

        pcts = {e.pct for e in entries}
        return cls(
            table=table,
            metric=metric,
            level=level,
            start_field=mdef.start,
            end_field=mdef.end,
            basis=mdef.basis,
            percentile=pcts.pop() if len(pcts) == 1 else None,
            percentiles=tuple(float(p) for p in percentiles),
            conf=conf,
            profile=std.name if std is not None else None,
            standard=std,
            entries=list(entry_specs),
            target_s=float(target_s) if target_s is not None else None,
            by=tuple(by) if not isinstance(by, str) else (by,),
            filters=filters,
            min_n=min_n,
            notes=notes,
            sql=sql,
            params=params,
        )


def _filter_sql(filters: dict[str, Any], params: dict[str, Any]) -> list[str]:
    out = []
    for k, v in filters.items():
        if k not in _FILTER_KEYS:
            raise MetricError(f"unknown filter {k!r}; valid filters: {', '.join(_FILTER_KEYS)}")
        if k in ("since", "until"):
            if isinstance(v, dt.datetime) and v.tzinfo is None:
                v = v.replace(tzinfo=dt.UTC)
            params[f"f_{k}"] = v.isoformat() if isinstance(v, dt.date) else str(v)
            op = ">=" if k == "since" else "<"
            out.append(f"b.call_received_at {op} cast($f_{k} as timestamptz)")
            continue
        vals = list(v) if isinstance(v, list | tuple | set) else [v]
        if k in ("hour", "weekday"):
            try:
                vals = [int(x) for x in vals]
            except (TypeError, ValueError):
                raise MetricError(f"filter {k} takes whole numbers, got {v!r}") from None
        else:
            vals = [str(x) for x in vals]
        params[f"f_{k}"] = vals
        out.append(f"list_contains($f_{k}, {_DIM_SQL[k]})")
    return out


def _build_sql(
    family,
    mdef,
    groups,
    entries,
    filters,
    percentiles,
    params,
    station_layer,
    density_layer,
    staffing,
    default_staff,
) -> str:
    base = _base_sql(family, mdef)
    if family == "first_due":
        params["station_layer"] = station_layer
    if family == "erf":
        items = sorted((str(k).upper(), int(v)) for k, v in staffing.items() if k != "default")
        params["staff_types"] = [k for k, _ in items]
        params["staff_counts"] = [v for _, v in items]
        params["default_staff"] = default_staff
    joins, dim_cols = [], []
    for i, g in enumerate(groups):
        if g.kind == "layer":
            params[f"layer_{i}"] = g.value
            joins.append(
                f"left join incident_zones z{i} on z{i}.incident_id = b.incident_id "
                f"and z{i}.layer = $layer_{i}"
            )
            dim_cols.append(f"z{i}.zone_id as {g.column}")
        else:
            dim_cols.append(f"{g.expr} as {g.column}")
    uses_density = any(e.density_class for e in entries)
    if uses_density:
        params["density_layer"] = density_layer
        joins.append(
            "left join incident_zones zd on zd.incident_id = b.incident_id "
            "and zd.layer = $density_layer"
        )
        joins.append("left join zones zz on zz.layer = $density_layer and zz.zone_id = zd.zone_id")
        dim_cols.append("zz.density_class as density_class")
    where = _filter_sql(filters, params)
    value_cols = ["b.start_at", "b.arrivals"] if family == "erf" else ["b.value_s"]
    gcols = [g.column for g in groups]

    entry_rows = []
    for i, e in enumerate(entries):
        entry_rows.append(
            f"({i}, {_lit(e.standard)}::varchar, {_lit(e.target_s)}::double, "
            f"{_lit(e.pct)}::double, {_lit(list(e.call_category) if e.call_category else None)}"
            f"::varchar[], {_lit(list(e.unit_type) if e.unit_type else None)}::varchar[], "
            f"{_lit(e.staff)}::integer, {_lit(e.density_class)}::varchar, "
            f"{_lit(e.target_note)}::varchar, {_lit(e.baseline_s)}::double)"
        )
    if family == "erf":
        value_expr = (
            "case when d.arrivals is null or d.start_at is null or e.staff is null then null "
            "else coalesce((epoch_us(list_filter(d.arrivals, a -> a.cum_staff >= e.staff)[1].at)"
            " - epoch_us(d.start_at)) / 1e6, 'inf'::double) end"
        )
    else:
        value_expr = "d.value_s"
    t_g = ", ".join(f"t.{c}" for c in gcols)
    if gcols:
        src = "targeted t join entries e on e.entry_id = t.entry_id"
        group_by = f"{t_g}, e.entry_id"
        sel_g = f"{t_g}, "
    else:
        src = "entries e left join targeted t on t.entry_id = e.entry_id"
        group_by = "e.entry_id"
        sel_g = ""
    pcols = "".join(
        f"da_nearest_rank(g.sorted_values, {_lit(float(p))}) as {_pcol(p)},\n    "
        for p in percentiles
    )
    multi = len({e.standard for e in entries}) > 1
    extra_first = (["e.standard"] if multi else []) + (["e.density_class"] if uses_density else [])
    has_unmet = family == "erf"
    has_baseline = any(e.baseline_s is not None for e in entries)
    has_note = any(e.target_note for e in entries)
    g_out = ", ".join(f"g.{c}" for c in gcols)
    order = ", ".join([*(f"{c} nulls last" for c in gcols), "entry_id"])
    density_join = (
        "\n   and (e.density_class is null or e.density_class = d.density_class)"
        if uses_density
        else ""
    )
    return f"""with base as ({base}
), dims as (
  select
    b.incident_id, b.call_category as _call_category, upper(b.unit_type) as _unit_type,
    {("," + chr(10) + "    ").join([*dim_cols, *value_cols])}
  from base b{"".join(chr(10) + "  " + j for j in joins)}{(chr(10) + "  where " + " and ".join(where)) if where else ""}
), entries as (
  select * from (values
    {("," + chr(10) + "    ").join(entry_rows)}
  ) v(entry_id, standard, target_s, pct, call_categories, unit_types, staff, density_class,
      target_note, baseline_s)
), targeted as (
  select d.*, e.entry_id, {value_expr} as value_s_entry
  from dims d
  join entries e
    on (e.call_categories is null or list_contains(e.call_categories, d._call_category))
   and (e.unit_types is null or list_contains(e.unit_types, d._unit_type)){density_join}
), grouped as (
  select
    {sel_g}e.entry_id,
    count(t.value_s_entry) as n,
    count(t.entry_id) - count(t.value_s_entry) as n_missing,
    count(t.value_s_entry) filter (where isinf(t.value_s_entry)) as n_unmet,
    avg(t.value_s_entry) filter (where isfinite(t.value_s_entry)) as mean_s,
    count(t.value_s_entry) filter (where t.value_s_entry <= e.target_s) as n_on_target,
    list_sort(list(t.value_s_entry) filter (where t.value_s_entry is not null)) as sorted_values
  from {src}
  group by {group_by}
), ci_ranks as (
  select * from da_os_ci_ranks(
    (select list({{'n': g.n, 'pct': e.pct}}) from grouped g join entries e using (entry_id)),
    conf := $conf)
), fractiles as (
  select
    {g_out + ", " if g_out else ""}{"".join(c + ", " for c in extra_first)}g.entry_id,
    g.n, g.n_missing,{" g.n_unmet," if has_unmet else ""}
    g.mean_s,
    {pcols}e.pct as percentile,
    da_nearest_rank(g.sorted_values, e.pct) as p_value_s,
    g.sorted_values[c.ci_low_rank] as ci_low_s,
    g.sorted_values[c.ci_high_rank] as ci_high_s,
    e.target_s,{" e.baseline_s," if has_baseline else ""}
    case when g.n > 0 and e.target_s is not null then g.n_on_target / g.n end as compliance{", e.target_note" if has_note else ""}
  from grouped g
  join entries e on e.entry_id = g.entry_id
  left join ci_ranks c on c.n = g.n and c.pct = e.pct
)
select
  * exclude (entry_id{", target_note" if has_note else ""}),
  p_value_s <= target_s as met,
  da_flag(n, $min_n, ci_low_s, ci_high_s) as flag{", target_note" if has_note else ""}
from fractiles
order by {order}
"""


def first_due_comparison(
    con: Any,
    station_layer: str,
    by: Sequence[str] = (),
    percentile: float = 90,
    min_n: int = DEFAULT_MIN_N,
    filters: dict[str, Any] | None = None,
) -> pl.DataFrame:
    """First-due vs first-arriving travel, side by side, per group: ``n_first_arriving,
    first_arriving_p_s, n_first_due, first_due_p_s, difference_s`` (first-due minus
    first-arriving, at the same nearest-rank percentile; the two are separate distributions)."""
    kw = dict(
        by=by, percentiles=(), profile=None, percentile=percentile, min_n=min_n, filters=filters
    )
    fa = Fractiles.from_store(con, metric="travel", **kw).table
    fd = Fractiles.from_store(
        con, metric="first_due_travel", station_layer=station_layer, **kw
    ).table
    keys = [c for c in fa.columns if c not in _RESULT_COLS]
    a = fa.select(
        *keys,
        pl.col("n").alias("n_first_arriving"),
        pl.col("p_value_s").alias("first_arriving_p_s"),
    )
    b = fd.select(
        *keys, pl.col("n").alias("n_first_due"), pl.col("p_value_s").alias("first_due_p_s")
    )
    out = (
        a.join(b, on=keys, how="full", coalesce=True, nulls_equal=True)
        if keys
        else pl.concat([a, b], how="horizontal")
    )
    return (
        out.with_columns(
            pl.lit(float(percentile)).alias("percentile"),
            (pl.col("first_due_p_s") - pl.col("first_arriving_p_s")).alias("difference_s"),
        ).sort(keys, nulls_last=True)
        if keys
        else out.with_columns(
            pl.lit(float(percentile)).alias("percentile"),
            (pl.col("first_due_p_s") - pl.col("first_arriving_p_s")).alias("difference_s"),
        )
    )


_RESULT_COLS = {
    "n",
    "n_missing",
    "n_unmet",
    "mean_s",
    "percentile",
    "p_value_s",
    "ci_low_s",
    "ci_high_s",
    "target_s",
    "baseline_s",
    "compliance",
    "met",
    "flag",
    "target_note",
}


def metric_choices() -> str:
    """Human-readable list of the metrics (for CLI help)."""
    return (
        f"incident level: {', '.join(metric_names('incident'))}; "
        f"unit level: {', '.join(metric_names('unit'))}"
    )
