"""Compliance report: every target of a standards profile, per zone / period, with what was
excluded and why.

    from dispatch_analytics.metrics.report import compliance_report
    rep = compliance_report(con, profile="nfpa1710", layer="neighborhoods", period="month")
    print(rep.to_text())
    rep.to_csv("compliance.csv"); rep.to_json("compliance.json"); rep.to_xlsx("compliance.xlsx")

``rep.table`` has one row per profile entry (and group): profile, standard (entry), metric,
level, start, end, [zone_id], [period_start], density_class, n, n_missing, percentile,
p_value_s, target_s, compliance, met, ci_low_s, ci_high_s, flag, baseline_s, n_unmet,
target_note, basis. ``rep.quality`` lists what was left out: rows rejected at ingest by reason,
superseded records, DST-flagged times, incidents lacking each interval's timestamps (overall and
within each entry's scope), incidents outside zones per layer, entries skipped and why.

The :class:`Report` and its outputs (text, CSV, JSON, XLSX) are :mod:`.report_output`.
"""

from __future__ import annotations

import os
from typing import Any

import duckdb
import polars as pl

from .agencies import ALL, agency_label, agency_names, resolve_agency
from .agency_scope import agency_scope
from .agency_standards import agency_standard
from .fractiles import PERIODS, Fractiles, MetricError, _connection
from .queries import known_layers, prepare, run_query
from .report_output import Report
from .standards import Standard, StandardError, TargetSpec, load_standard

__all__ = ["Report", "compliance_report", "TABLE_COLUMNS", "QUALITY_COLUMNS"]

_TABLE_SCHEMA = {
    "agency": pl.String,
    "profile": pl.String,
    "standard": pl.String,
    "metric": pl.String,
    "level": pl.String,
    "start": pl.String,
    "end": pl.String,
    "zone_id": pl.String,
    "zone_name": pl.String,
    "period_start": pl.Date,
    "density_class": pl.String,
    "n": pl.Int64,
    "n_missing": pl.Int64,
    "percentile": pl.Float64,
    "p_value_s": pl.Float64,
    "target_s": pl.Float64,
    "compliance": pl.Float64,
    "met": pl.Boolean,
    "ci_low_s": pl.Float64,
    "ci_high_s": pl.Float64,
    "flag": pl.String,
    "baseline_s": pl.Float64,
    "n_unmet": pl.Int64,
    "target_note": pl.String,
    "basis": pl.String,
    "calls": pl.String,
}
# a Schema, not a dict: DataFrame.cast wants its keys typed as names or selectors
_QUALITY_SCHEMA = pl.Schema(
    {
        "section": pl.String,
        "source": pl.String,
        "layer": pl.String,
        "item": pl.String,
        "n": pl.Int64,
        "total": pl.Int64,
        "share": pl.Float64,
        "detail": pl.String,
    }
)
_METRICS_SCHEMA = {
    "standard": pl.String,
    "label": pl.String,
    "metric": pl.String,
    "level": pl.String,
    "start": pl.String,
    "end": pl.String,
    "basis": pl.String,
    "target_s": pl.Float64,
    "baseline_s": pl.Float64,
    "percentile": pl.Float64,
    "by_density_class": pl.Boolean,
    "filters": pl.String,
    "calls": pl.String,
    "source": pl.String,
    "note": pl.String,
}

#: Columns of ``Report.table`` (zone_id / period_start only with a layer / period).
TABLE_COLUMNS = list(_TABLE_SCHEMA)
#: Columns of ``Report.quality``.
QUALITY_COLUMNS = list(_QUALITY_SCHEMA)


# ----------------------------------------------------------------- profile and grouping
def _resolve(
    con: duckdb.DuckDBPyConnection,
    profile: str | Standard,
    overrides: str | os.PathLike | dict | None,
    layer: str | None,
    period: str | None,
) -> tuple[Standard, tuple[str, ...]]:
    """The profile (with overrides) and the grouping ``by`` of every entry; checks the layer
    and period."""
    try:
        std = load_standard(profile, overrides)
    except StandardError as exc:
        raise MetricError(str(exc)) from None
    layers = known_layers(con)
    if layer is not None and layer not in layers:
        raise MetricError(
            f"unknown layer {layer!r}; valid layers: {', '.join(layers) or '(none loaded)'}"
        )
    if period is not None and period not in PERIODS:
        raise MetricError(f"unknown period {period!r}; valid periods: {', '.join(PERIODS)}")
    by = tuple(x for x in (f"layer:{layer}" if layer else None, period) if x)
    return std, by


# ------------------------------------------------------------------------ metric definitions
def _filters_text(spec: TargetSpec) -> str:
    flt = []
    if spec.call_category:
        flt.append("call_category in (" + ", ".join(spec.call_category) + ")")
    if spec.unit_type:
        flt.append("unit_type in (" + ", ".join(spec.unit_type) + ")")
    if spec.call_types:
        flt.append("call types " + spec.calls_text())
    return " and ".join(flt)


def _metrics_frame(std: Standard, agency: Any = None) -> pl.DataFrame:
    """``Report.metrics``: one row per entry, what it measures and its target."""
    rows = [
        {
            "standard": spec.key,
            "label": spec.label or spec.definition.label or spec.key,
            "metric": spec.metric,
            "level": spec.level,
            "start": spec.start,
            "end": spec.end,
            "basis": spec.definition.basis,
            "target_s": spec.target_s,
            "baseline_s": spec.baseline_s,
            "percentile": spec.percentile,
            "by_density_class": spec.by_density_class,
            "filters": _filters_text(spec),
            "calls": spec.calls_text(agency),
            "source": spec.source,
            "note": spec.note,
        }
        for spec in std.targets
    ]
    return pl.DataFrame(rows, schema=_METRICS_SCHEMA)


# --------------------------------------------------------------------- the compliance table
def _in_scope_quality(spec: TargetSpec, t: pl.DataFrame) -> dict[str, Any]:
    """The quality row of one entry: how many in its scope lack its timestamps."""
    n_in = int(t["n"].sum()) + int(t["n_missing"].sum())
    why = _reasons(t)
    return {
        "section": "missing_interval_in_scope",
        "item": spec.key,
        "n": int(t["n_missing"].sum()),
        "total": n_in,
        "share": (t["n_missing"].sum() / n_in) if n_in else None,
        "detail": f"{spec.level}s in scope of {spec.key} without both {spec.start} and "
        f"{spec.end} (not counted)" + (f"; why: {why}" if why else ""),
    }


def _reasons(t: pl.DataFrame) -> str:
    """The fractile rows' ``excluded`` breakdowns (``reason: n; ...``) summed over the rows,
    most frequent first (e.g. ``missing on_scene_at: 12; on_scene_at stage_order: 1``)."""
    if "excluded" not in t.columns:
        return ""
    total: dict[str, int] = {}
    for text in t["excluded"].drop_nulls().to_list():
        for part in text.split("; "):
            reason, _, n = part.rpartition(": ")
            if reason and n.isdigit():
                total[reason] = total.get(reason, 0) + int(n)
    ranked = sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))
    return "; ".join(f"{r}: {n}" for r, n in ranked)


def _entry_rows(
    con: duckdb.DuckDBPyConnection,
    std: Standard,
    spec: TargetSpec,
    by: tuple[str, ...],
    options: dict[str, Any],
) -> tuple[pl.DataFrame | None, dict[str, Any], list[str], dict[str, int]]:
    """One entry's rows of the table (None when it cannot be computed), its quality row, the
    engine's notes and the calls the profile's ``[scope]`` left out."""
    try:
        f = Fractiles.from_store(
            con,
            metric=spec.metric,
            entry=spec.key,
            by=by,
            percentiles=(),
            profile=std,
            level=spec.level,
            agency=ALL,  # the connection is already scoped to the chosen agencies
            **{k: v for k, v in options.items() if k != "agency"},
        )
    except MetricError as exc:
        return None, {"section": "skipped_metric", "item": spec.key, "detail": str(exc)}, [], {}
    t = f.table.with_columns(
        pl.lit(std.name).alias("profile"),
        pl.lit(spec.key).alias("standard"),
        pl.lit(spec.metric).alias("metric"),
        pl.lit(spec.level).alias("level"),
        pl.lit(spec.start).alias("start"),
        pl.lit(spec.end).alias("end"),
        pl.lit(spec.definition.basis).alias("basis"),
        pl.lit(spec.calls_text(options.get("agency"))).alias("calls"),
    )
    return t, _in_scope_quality(spec, t), list(f.notes), f.out_of_scope


def _align(frames: list[pl.DataFrame], layer: str | None, period: str | None) -> pl.DataFrame:
    """The entries' rows in one table of :data:`TABLE_COLUMNS` (zone_id / period_start only
    when grouped by a layer / period)."""
    cols = [
        c
        for c in TABLE_COLUMNS
        if not (c in ("zone_id", "zone_name") and not layer)
        and not (c == "period_start" and not period)
    ]
    aligned = [
        t.select(
            (pl.col(c) if c in t.columns else pl.lit(None)).cast(_TABLE_SCHEMA[c]).alias(c)
            for c in cols
        )
        for t in frames
    ]
    if not aligned:
        return pl.DataFrame(schema={c: _TABLE_SCHEMA[c] for c in cols})
    return pl.concat(aligned)


def _compliance_table(
    con: duckdb.DuckDBPyConnection,
    std: Standard,
    by: tuple[str, ...],
    options: dict[str, Any],
) -> tuple[list[pl.DataFrame], list[dict[str, Any]], list[str], dict[str, int]]:
    """Every entry's rows, the quality rows of the entries, the notes (each once) and the calls
    left out by the profile's ``[scope]`` (the same calls for every entry: the largest count)."""
    frames: list[pl.DataFrame] = []
    quality: list[dict[str, Any]] = []
    notes: list[str] = []
    scope: dict[str, int] = {}
    for spec in std.targets:
        t, q, entry_notes, left_out = _entry_rows(con, std, spec, by, options)
        for cat, k in left_out.items():
            scope[cat] = max(scope.get(cat, 0), k)
        quality.append(q)
        if t is not None:
            frames.append(t)
        for n in entry_notes:
            if n not in notes and not (std.exclude_call_categories and " not judged against " in n):
                notes.append(n)
    return frames, quality, notes, scope


# ---------------------------------------------------------------------------- data quality
def _quality_rows(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return (
        pl.DataFrame(rows, schema=_QUALITY_SCHEMA) if rows else pl.DataFrame(schema=_QUALITY_SCHEMA)
    )


def _quality_section(con: duckdb.DuckDBPyConnection, entries: list[dict[str, Any]]) -> pl.DataFrame:
    """``Report.quality``: the store's data-quality summary, then the entries' rows."""
    dq = run_query(con, "data_quality")
    # the ingest section is per source file: keep the files of the agencies in scope
    sources = {r[0] for r in con.execute("select distinct source from responses_all").fetchall()}
    dq = dq.filter((pl.col("section") != "ingest") | pl.col("source").is_in(list(sources)))
    dq_rows = dq.with_columns(pl.lit(None, pl.String).alias("detail")).select(QUALITY_COLUMNS)
    return pl.concat([dq_rows.cast(_QUALITY_SCHEMA), _quality_rows(entries)], how="vertical")


def _profile_notes(std: Standard, notes: list[str]) -> list[str]:
    """The notes, after a warning when the profile holds default figures."""
    if not std.defaults:
        return notes
    return [
        f"profile {std.name} holds DEFAULT figures: override them with the "
        "agency's adopted targets",
        *notes,
    ]


def _zone_names(con: duckdb.DuckDBPyConnection, table: pl.DataFrame, layer: str) -> pl.DataFrame:
    """The table with each zone's display name (``zones.name``, else its id)."""
    names = con.execute(
        "select zone_id, any_value(name) as name from zones where layer = $layer group by zone_id",
        {"layer": layer},
    ).pl()
    lookup = dict(zip(names["zone_id"].to_list(), names["name"].to_list(), strict=True))
    return table.with_columns(
        pl.col("zone_id")
        .map_elements(lambda z: lookup.get(z) or z, return_dtype=pl.String)
        .alias("zone_name")
    )


# --------------------------------------------------------------------------------- report
def compliance_report(
    con: Any,
    profile: str | Standard | None = None,
    layer: str | None = None,
    period: str | None = None,
    overrides: str | os.PathLike | dict | None = None,
    station_layer: str | None = None,
    density_layer: str | None = None,
    min_n: int = 30,
    conf: float = 0.95,
    filters: dict[str, Any] | None = None,
    agency: str | list[str] | None = None,
) -> Report:
    """Compute every target of a standards profile.

    Parameters
    ----------
    con : DuckDB connection with the catalog views (or a Store)
    profile : built-in profile name, profile TOML path, or a loaded Standard; None: the
        agency's profile from ``overrides``' ``[agencies."NAME"] standards`` (see
        :func:`~.agency_standards.agency_standard`), else ``nfpa1710``
    layer : zone layer to group by (None: the whole area)
    period : day, week, month, quarter or year (local period start), or None
    overrides : config TOML path or dict of local overrides (see ``load_standard``)
    station_layer : first-due station areas, for first_due_* entries
    density_layer : layer whose zones carry density_class, for NFPA 1720 demand zones
    min_n, conf : small-sample threshold and CI confidence
    filters : extra filters for every entry (see ``Fractiles.from_store``)
    agency : str, list of str or None
        The agency (or agencies, taken together; ``"all"`` for every one). None: the store's
        only agency; a store of several raises :class:`AgencyError` (never a silent sum).

    Returns
    -------
    Report
        ``table``, ``quality``, ``metrics`` and the metadata; see :mod:`.report_output` for
        its outputs.

    Raises
    ------
    MetricError
        An unknown or invalid profile, layer or period.

    Entries that cannot be computed (a first_due_* entry without station_layer, demand zones
    without density_layer, ERF without staffing) are skipped and listed in ``quality``.
    """
    con = _connection(con)
    prepare(con)
    chosen = resolve_agency(con, agency, python=True)
    label = agency_label(chosen, con)
    if profile is None:  # the agency's configured profile, else nfpa1710
        try:
            profile = agency_standard(
                chosen if chosen is not None else agency_names(con), overrides
            )
        except StandardError as exc:
            raise MetricError(str(exc)) from None
    con = prepare(agency_scope(con, chosen))
    std, by = _resolve(con, profile, overrides, layer, period)
    options = {
        "min_n": min_n,
        "conf": conf,
        "station_layer": station_layer,
        "density_layer": density_layer,
        "filters": filters,
        "agency": chosen,
    }
    frames, entry_quality, notes, scope = _compliance_table(con, std, by, options)
    table = _align(frames, layer, period).with_columns(pl.lit(label).alias("agency"))
    if layer:
        table = _zone_names(con, table, layer)
    first, last = con.execute(
        "select min(call_received_local_at)::date, max(call_received_local_at)::date from incidents"
    ).fetchone() or (None, None)
    return Report(
        table=table,
        agency=label,
        first_date=first,
        last_date=last,
        quality=_quality_section(con, entry_quality),
        profile=std.name,
        title=std.title,
        layer=layer,
        period=period,
        metrics=_metrics_frame(std, chosen),
        notes=_profile_notes(std, notes),
        overrides=list(std.overrides),
        out_of_scope=scope,
        scope_note=std.scope_text(scope),
        conf=conf,
        min_n=min_n,
    )
