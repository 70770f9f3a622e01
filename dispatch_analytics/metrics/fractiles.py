"""Response-time fractiles, their confidence intervals and compliance with standards.

The analysis object :class:`Fractiles` (in the style of spopt / esda: build it with
``Fractiles.from_store(...)``, read the results from its attributes)::

    from dispatch_analytics.metrics.fractiles import Fractiles
    f = Fractiles.from_store(con, metric="total_response", by=("layer:neighborhoods", "month"),
                             target_s=480)
    f.table          # polars: zone_id, period_start, n, n_missing, mean_s, p50_s, p90_s, p95_s,
                     #         percentile, p_value_s, ci_low_s, ci_high_s, target_s, compliance,
                     #         met, flag, excluded
    f.start_field, f.end_field, f.method, f.profile, f.notes, f.sql

The numbers come from one DuckDB macro, ``da_fractiles`` (``sql/_macros.sql``), the same one
the analyst queries and the dashboard use; this module only resolves the request (metric or
profile entry, targets, groupings, filters: :mod:`.targets`, :mod:`.grouping`) and builds its
SQL (:mod:`.metric_sql`).

Rules (see ``docs/metrics.md``):

* **Percentile: nearest-rank.** The p-th percentile of n values is the value at 1-based rank
  ``ceil(p / 100 * n)`` of the sorted values, computed in exact integer arithmetic with p
  resolved to 1e-6 of a percent, so "p-th percentile <= target" holds exactly when
  "compliance >= p%" (compliance = share of values <= target).
* **95% CI: distribution-free, from order statistics** (:data:`CI_METHOD`); a rank outside
  1..n is a NULL (unbounded) bound and flag ``ci_unbounded``.
* **Flag:** ``no_data`` (n = 0), else ``small_sample`` (n < min_n, default 30), else
  ``ci_unbounded``, else NULL.
* **Exclusions:** a value that is not counted says why (column ``excluded``: e.g.
  ``missing on_scene_at: 12``; ``n_missing`` counts them).
* Fractiles of different intervals are never added: each metric is computed from its own
  distribution.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import polars as pl

from ..errors import MetricError
from .agencies import resolve_agency
from .agency_scope import agency_scope
from .grouping import DIMENSIONS, parse_by
from .metric_sql import SCOPE_COLUMN, MetricQuery, build_sql, family, out_of_scope_sql
from .queries import fetch_frame, known_layers, prepare
from .rules import CI_METHOD, DEFAULT_MIN_N, METHOD, PERIODS, check_pct
from .standards import Standard, StandardError, TargetSpec, load_standard, metric_names
from .targets import density_notes, erf_staffing, resolve_metric, target_entries

__all__ = [
    "MetricError",
    "METHOD",
    "CI_METHOD",
    "DEFAULT_MIN_N",
    "PERIODS",
    "DIMENSIONS",
    "Fractiles",
    "first_due_comparison",
    "metric_choices",
]


def _connection(con: Any) -> duckdb.DuckDBPyConnection:
    if isinstance(con, duckdb.DuckDBPyConnection):
        return con
    if hasattr(con, "connect"):  # a Store
        return con.connect(read_only=True)
    raise MetricError(f"expected a DuckDB connection or a Store, got {type(con).__name__}")


def _check_args(percentiles, percentile, min_n, conf) -> None:
    for p in percentiles:
        check_pct(p)
    if percentile is not None:
        check_pct(percentile)
    if min_n < 0:
        raise MetricError(f"min_n must be >= 0, got {min_n}")
    if not 0 < conf < 1:
        raise MetricError(f"conf must be in (0, 1), got {conf!r}")


def _standard(profile, overrides) -> Standard | None:
    if profile is None:
        return None
    try:
        return load_standard(profile, overrides)
    except StandardError as exc:
        raise MetricError(str(exc)) from None


def _first_due_notes(metric: str, station_layer: str | None, layers: list[str]) -> list[str]:
    valid = ", ".join(layers) or "(none loaded)"
    if station_layer is None:
        raise MetricError(
            f"metric {metric} needs station_layer=<zone layer of first-due "
            f"station areas>; valid layers: {valid}"
        )
    if station_layer not in layers:
        raise MetricError(f"unknown station_layer {station_layer!r}; valid layers: {valid}")
    return [
        f"first-due unit: the earliest-dispatched unit whose responses.station_id "
        f"equals the incident's zone_id in layer {station_layer} (assumes zone_id "
        "= station_id and station_id = the unit's home station); incidents "
        "whose first-due station sent no arriving unit are not counted"
    ]


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
    out_of_scope : dict of str to int
        Calls (after the filters) of each call category the profile's ``[scope]`` leaves out
        of every objective (the fire and EMS built-ins: ``police``); ``scope_note`` says it in
        one line ("312 police calls not judged against NFPA 1710 ...").
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
    out_of_scope: dict[str, int] = field(default_factory=dict)

    @property
    def scope_note(self) -> str | None:
        """One line on the calls the profile's ``[scope]`` left out (None: none)."""
        return self.standard.scope_text(self.out_of_scope) if self.standard else None

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
            "out_of_scope": dict(self.out_of_scope),
        }

    def __repr__(self) -> str:
        return (
            f"Fractiles(metric={self.metric!r}, level={self.level!r}, "
            f"{self.start_field} -> {self.end_field}, method={self.method!r}, "
            f"profile={self.profile!r}, rows={self.table.height})"
        )

    # -------------------------------------------------------------------------- construction
    # Long: the parameter list and its documentation; the work is in the helpers it calls
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
        agency: str | Sequence[str] | None = None,
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
        agency : str, list of str or None
            The agency (several: taken together; ``"all"``: every agency). None: the store's
            only agency; a store of several raises :class:`AgencyError` listing them (pass
            ``agency="NAME"`` or ``agency="all"``): agencies are never added up silently.
        """
        filters = dict(filters or {})
        _check_args(percentiles, percentile, min_n, conf)
        std = _standard(profile, overrides)  # the arguments' errors before the store's
        con = _connection(con)
        if agency is None:
            # the store's only agency (several: AgencyError): scoping to it would leave nothing
            # out, and agency_scope would list the agencies twice more (a scan of incidents each)
            resolve_agency(con, None, python=True)
        else:
            chosen = resolve_agency(con, agency, python=True)
            if chosen is not None:
                con = agency_scope(con, chosen)  # every relation below: the agency's rows only
        prepare(con)
        mdef, entry_specs = resolve_metric(std, metric, level, entry)
        metric, level, fam = mdef.name, mdef.level, family(mdef)
        layers = known_layers(con)
        groups = parse_by(by, layers)
        notes: list[str] = []
        if fam == "incident" and "first-arriving unit" in mdef.basis:
            notes.append(
                f"incident-level {metric} is the first-arriving unit's (start and end "
                "from the same unit)"
            )
        if fam == "first_due":
            notes += _first_due_notes(metric, station_layer, layers)
        if entry_specs is None:
            entry_specs = std.entries(metric, level) if std is not None else []
        entries, entry_specs, spec_notes = target_entries(
            std, entry_specs, target_s, percentile, staff
        )
        notes += spec_notes + density_notes(entries, std, metric, density_layer, layers)
        staff_table: dict[str, Any] = {}
        default_staff = 0
        if fam == "erf":
            staff_table, default_staff, erf_notes = erf_staffing(std, staffing, entries, metric)
            notes += erf_notes
        q = MetricQuery(
            mdef=mdef,
            groups=groups,
            entries=entries,
            filters=filters,
            percentiles=percentiles,
            params={"min_n": min_n, "conf": conf},
            station_layer=station_layer,
            density_layer=density_layer,
            staffing=staff_table,
            default_staff=default_staff,
            exclude_categories=std.exclude_call_categories if std is not None else (),
        )
        sql = build_sql(q)
        try:
            table = fetch_frame(con, sql, q.params)
            out_of_scope, table = _scope_counts(con, q, table)
        except duckdb.Error as exc:
            raise MetricError(f"metric SQL failed: {str(exc).strip()}") from exc
        scope = std.scope_text(out_of_scope) if std is not None else None
        if scope:
            notes.append(scope)
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
            params=q.params,
            out_of_scope=out_of_scope,
        )


def _scope_counts(
    con: duckdb.DuckDBPyConnection, q: MetricQuery, table: pl.DataFrame
) -> tuple[dict[str, int], pl.DataFrame]:
    """The out-of-scope counts from the statement's own column (:data:`SCOPE_COLUMN`), and
    the table without it; a table without rows asks :func:`_out_of_scope`."""
    if SCOPE_COLUMN not in table.columns:
        return {}, table
    if not table.height:
        return _out_of_scope(con, q), table.drop(SCOPE_COLUMN)
    pairs = table[SCOPE_COLUMN].to_list()[0] or []
    counts = {str(p["call_category"]): int(p["calls"]) for p in pairs if p["calls"]}
    return counts, table.drop(SCOPE_COLUMN)


def _out_of_scope(con: duckdb.DuckDBPyConnection, q: MetricQuery) -> dict[str, int]:
    """Calls of each category the profile's ``[scope]`` leaves out (after the filters)."""
    if not q.exclude_categories:
        return {}
    import re

    sql = out_of_scope_sql(q)
    params = {k: v for k, v in q.params.items() if re.search(rf"\${k}\b", sql)}
    rows = fetch_frame(con, sql, params).rows()  # no pandas import (queries.inline_params)
    return {str(c): int(n) for c, n in rows if n}


def first_due_comparison(
    con: Any,
    station_layer: str,
    by: Sequence[str] = (),
    percentile: float = 90,
    min_n: int = DEFAULT_MIN_N,
    filters: dict[str, Any] | None = None,
    agency: str | Sequence[str] | None = None,
) -> pl.DataFrame:
    """First-due vs first-arriving travel, side by side, per group: ``n_first_arriving,
    first_arriving_p_s, n_first_due, first_due_p_s, difference_s`` (first-due minus
    first-arriving, at the same nearest-rank percentile; the two are separate distributions).
    ``agency`` as in :meth:`Fractiles.from_store`."""
    fa = Fractiles.from_store(
        con,
        metric="travel",
        by=by,
        percentiles=(),
        profile=None,
        percentile=percentile,
        min_n=min_n,
        filters=filters,
        agency=agency,
    ).table
    fd = Fractiles.from_store(
        con,
        metric="first_due_travel",
        station_layer=station_layer,
        by=by,
        percentiles=(),
        profile=None,
        percentile=percentile,
        min_n=min_n,
        filters=filters,
        agency=agency,
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
    "n_excluded",
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
    "excluded",
    "target_note",
}


def metric_choices() -> str:
    """Human-readable list of the metrics (for CLI help)."""
    return (
        f"incident level: {', '.join(metric_names('incident'))}; "
        f"unit level: {', '.join(metric_names('unit'))}"
    )
