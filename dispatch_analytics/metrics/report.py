"""Compliance report: every target of a standards profile, per zone / period, with what was
excluded and why.

    from dispatch_analytics.report import compliance_report
    rep = compliance_report(con, profile="nfpa1710", layer="neighborhoods", period="month")
    print(rep.to_text())
    rep.to_csv("compliance.csv"); rep.to_json("compliance.json"); rep.to_xlsx("compliance.xlsx")

``rep.table`` has one row per profile entry (and group): profile, standard (entry), metric,
level, start, end, [zone_id], [period_start], density_class, n, n_missing, percentile,
p_value_s, target_s, compliance, met, ci_low_s, ci_high_s, flag, baseline_s, n_unmet,
target_note, basis. ``rep.quality`` lists what was left out: rows rejected at ingest by reason,
superseded records, DST-flagged times, incidents lacking each interval's timestamps (overall and
within each entry's scope), incidents outside zones per layer, entries skipped and why.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from .fractiles import CI_METHOD, METHOD, PERIODS, Fractiles, MetricError, _connection
from .queries import known_layers, prepare, run_query
from .standards import Standard, StandardError, load_standard

__all__ = ["Report", "compliance_report", "TABLE_COLUMNS", "QUALITY_COLUMNS"]

#: Columns of ``Report.table`` (zone_id / period_start only with a layer / period).
TABLE_COLUMNS = [
    "profile",
    "standard",
    "metric",
    "level",
    "start",
    "end",
    "zone_id",
    "period_start",
    "density_class",
    "n",
    "n_missing",
    "percentile",
    "p_value_s",
    "target_s",
    "compliance",
    "met",
    "ci_low_s",
    "ci_high_s",
    "flag",
    "baseline_s",
    "n_unmet",
    "target_note",
    "basis",
]
#: Columns of ``Report.quality``.
QUALITY_COLUMNS = ["section", "source", "layer", "item", "n", "total", "share", "detail"]

_QUALITY_SCHEMA = {
    "section": pl.String,
    "source": pl.String,
    "layer": pl.String,
    "item": pl.String,
    "n": pl.Int64,
    "total": pl.Int64,
    "share": pl.Float64,
    "detail": pl.String,
}


@dataclass
class Report:
    """A compliance report: ``table``, ``quality`` and the metadata every output states."""

    table: pl.DataFrame
    quality: pl.DataFrame
    profile: str
    title: str
    layer: str | None
    period: str | None
    metrics: pl.DataFrame
    notes: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    method: str = METHOD
    ci_method: str = CI_METHOD
    conf: float = 0.95
    min_n: int = 30
    generated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    # ------------------------------------------------------------------------------ metadata
    @property
    def metadata(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "title": self.title,
            "percentile_method": self.method,
            "ci_method": self.ci_method,
            "ci_confidence": self.conf,
            "min_n": self.min_n,
            "layer": self.layer,
            "period": self.period,
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
            "overrides": list(self.overrides),
            "notes": list(self.notes),
        }

    def _header_lines(self) -> list[str]:
        lines = [
            f"Compliance report: profile {self.profile} ({self.title})",
            f"Percentile method: {self.method} (value at rank ceil(p/100 * n) of the sorted "
            "values; p-th percentile <= target exactly when compliance >= p%)",
            f"CI ({self.conf:.0%}): {self.ci_method}",
            f"Flags: no_data (n = 0), small_sample (n < {self.min_n}), ci_unbounded",
            f"Grouping: layer {self.layer or '(none)'}, period {self.period or '(none)'}",
        ]
        if self.overrides:
            lines.append("Local overrides: " + "; ".join(self.overrides))
        lines.append("Metrics (start -> end timestamps):")
        for r in self.metrics.iter_rows(named=True):
            tgt = (
                "by demand zone"
                if r["target_s"] is None and r["by_density_class"]
                else ("no target" if r["target_s"] is None else f"{r['target_s']:g} s")
            )
            lines.append(
                f"  {r['standard']}: {r['metric']} ({r['level']}) {r['start']} -> "
                f"{r['end']} [{r['basis']}], {tgt} @ p{r['percentile']:g}"
                + (f", {r['filters']}" if r["filters"] else "")
            )
        if self.notes:
            lines.append("Notes:")
            lines.extend(f"  - {n}" for n in self.notes)
        return lines

    # ------------------------------------------------------------------------------- outputs
    def to_text(self) -> str:
        """Plain text: the metadata, the table and the quality table."""
        with pl.Config(
            tbl_rows=-1,
            tbl_cols=-1,
            tbl_width_chars=250,
            fmt_str_lengths=60,
            tbl_hide_dataframe_shape=True,
            tbl_hide_column_data_types=True,
        ):
            show = [c for c in self.table.columns if c not in ("profile", "start", "end", "basis")]
            parts = [
                "\n".join(self._header_lines()),
                str(self.table.select(show)),
                "Data quality (what was excluded and why):",
                str(self.quality),
            ]
        return "\n\n".join(parts) + "\n"

    def to_csv(self, path: str | os.PathLike | None = None, which: str = "table") -> str | None:
        """The table (``which='quality'``: the quality table) as CSV; a string when no path."""
        df = self._pick(which)
        if path is None:
            return df.write_csv()
        df.write_csv(path)
        return None

    def to_dict(self) -> dict[str, Any]:
        """Metadata, metric definitions, table and quality rows (JSON-safe: +inf -> null)."""
        return {
            **self.metadata,
            "metrics": _json_rows(self.metrics),
            "table": _json_rows(self.table),
            "quality": _json_rows(self.quality),
        }

    def to_json(self, path: str | os.PathLike | None = None) -> str | None:
        """JSON object: metadata, metrics, table, quality. Non-finite values are null (an ERF
        never assembled is counted in n_unmet)."""
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        if path is None:
            return text
        Path(path).write_text(text + "\n", encoding="utf-8")
        return None

    def to_xlsx(self, path: str | os.PathLike) -> Path:
        """An Excel workbook with sheets compliance, quality, metrics and about (needs
        ``xlsxwriter``)."""
        try:
            import xlsxwriter
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise MetricError(
                "xlsx output needs the xlsxwriter package (pip install xlsxwriter)"
            ) from exc
        path = Path(path)
        about = pl.DataFrame(
            {
                "key": list(self.metadata),
                "value": [
                    json.dumps(v) if isinstance(v, list) else ("" if v is None else str(v))
                    for v in self.metadata.values()
                ],
            }
        )
        with xlsxwriter.Workbook(str(path)) as wb:
            _finite(self.table).write_excel(workbook=wb, worksheet="compliance", autofit=True)
            _finite(self.quality).write_excel(workbook=wb, worksheet="quality", autofit=True)
            self.metrics.write_excel(workbook=wb, worksheet="metrics", autofit=True)
            about.write_excel(workbook=wb, worksheet="about", autofit=True)
        return path

    def _pick(self, which: str) -> pl.DataFrame:
        if which == "table":
            return self.table
        if which == "quality":
            return self.quality
        raise MetricError(f"unknown report part {which!r}; valid: table, quality")

    def __repr__(self) -> str:
        return (
            f"Report(profile={self.profile!r}, layer={self.layer!r}, period={self.period!r}, "
            f"rows={self.table.height}, quality_rows={self.quality.height})"
        )


def _finite(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(
        pl.when(pl.col(c).is_finite()).then(pl.col(c)).otherwise(None).alias(c)
        for c, t in df.schema.items()
        if t.is_float()
    )


def _json_value(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    return v


def _json_rows(df: pl.DataFrame) -> list[dict[str, Any]]:
    return [{k: _json_value(v) for k, v in r.items()} for r in df.iter_rows(named=True)]


def _quality_rows(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return (
        pl.DataFrame(rows, schema=_QUALITY_SCHEMA) if rows else pl.DataFrame(schema=_QUALITY_SCHEMA)
    )


def compliance_report(
    con: Any,
    profile: str | Standard = "nfpa1710",
    layer: str | None = None,
    period: str | None = None,
    overrides: str | os.PathLike | dict | None = None,
    station_layer: str | None = None,
    density_layer: str | None = None,
    min_n: int = 30,
    conf: float = 0.95,
    filters: dict[str, Any] | None = None,
) -> Report:
    """Compute every target of a standards profile.

    Parameters
    ----------
    con : DuckDB connection with the catalog views (or a Store)
    profile : built-in profile name, profile TOML path, or a loaded Standard
    layer : zone layer to group by (None: the whole area)
    period : day, week, month, quarter or year (local period start), or None
    overrides : config TOML path or dict of local overrides (see ``load_standard``)
    station_layer : first-due station areas, for first_due_* entries
    density_layer : layer whose zones carry density_class, for NFPA 1720 demand zones
    min_n, conf : small-sample threshold and CI confidence
    filters : extra filters for every entry (see ``Fractiles.from_store``)

    Entries that cannot be computed (a first_due_* entry without station_layer, demand zones
    without density_layer, ERF without staffing) are skipped and listed in ``quality``.
    """
    con = _connection(con)
    prepare(con)
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

    frames: list[pl.DataFrame] = []
    quality: list[dict[str, Any]] = []
    notes: list[str] = []
    metric_rows = []
    for spec in std.targets:
        flt = []
        if spec.call_category:
            flt.append("call_category in (" + ", ".join(spec.call_category) + ")")
        if spec.unit_type:
            flt.append("unit_type in (" + ", ".join(spec.unit_type) + ")")
        md = spec.definition
        metric_rows.append(
            {
                "standard": spec.key,
                "metric": spec.metric,
                "level": spec.level,
                "start": spec.start,
                "end": spec.end,
                "basis": md.basis,
                "target_s": spec.target_s,
                "baseline_s": spec.baseline_s,
                "percentile": spec.percentile,
                "by_density_class": spec.by_density_class,
                "filters": " and ".join(flt),
                "source": spec.source,
                "note": spec.note,
            }
        )
        try:
            f = Fractiles.from_store(
                con,
                metric=spec.metric,
                entry=spec.key,
                by=by,
                percentiles=(),
                profile=std,
                level=spec.level,
                min_n=min_n,
                conf=conf,
                station_layer=station_layer,
                density_layer=density_layer,
                filters=filters,
            )
        except MetricError as exc:
            quality.append({"section": "skipped_metric", "item": spec.key, "detail": str(exc)})
            continue
        for n in f.notes:
            if n not in notes:
                notes.append(n)
        t = f.table
        t = t.with_columns(
            pl.lit(std.name).alias("profile"),
            pl.lit(spec.key).alias("standard"),
            pl.lit(spec.metric).alias("metric"),
            pl.lit(spec.level).alias("level"),
            pl.lit(spec.start).alias("start"),
            pl.lit(spec.end).alias("end"),
            pl.lit(md.basis).alias("basis"),
        )
        frames.append(t)
        n_in = int(t["n"].sum() + t["n_missing"].sum())
        quality.append(
            {
                "section": "missing_interval_in_scope",
                "item": spec.key,
                "n": int(t["n_missing"].sum()),
                "total": n_in,
                "share": (t["n_missing"].sum() / n_in) if n_in else None,
                "detail": f"{spec.level}s in scope of {spec.key} without both {spec.start} and "
                f"{spec.end} (not counted)",
            }
        )

    cols = [
        c
        for c in TABLE_COLUMNS
        if not (c == "zone_id" and not layer) and not (c == "period_start" and not period)
    ]
    schema = {
        "profile": pl.String,
        "standard": pl.String,
        "metric": pl.String,
        "level": pl.String,
        "start": pl.String,
        "end": pl.String,
        "zone_id": pl.String,
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
    }
    aligned = []
    for t in frames:
        aligned.append(
            t.select(
                (pl.col(c) if c in t.columns else pl.lit(None)).cast(schema[c]).alias(c)
                for c in cols
            )
        )
    table = pl.concat(aligned) if aligned else pl.DataFrame(schema={c: schema[c] for c in cols})

    dq = run_query(con, "data_quality")
    dq_rows = dq.with_columns(pl.lit(None, pl.String).alias("detail")).select(QUALITY_COLUMNS)
    q = pl.concat([dq_rows.cast(_QUALITY_SCHEMA), _quality_rows(quality)], how="vertical")
    metrics_df = pl.DataFrame(
        metric_rows,
        schema={
            "standard": pl.String,
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
            "source": pl.String,
            "note": pl.String,
        },
    )
    if std.defaults:
        notes.insert(
            0,
            f"profile {std.name} holds DEFAULT figures: override them with the "
            "agency's adopted targets",
        )
    return Report(
        table=table,
        quality=q,
        profile=std.name,
        title=std.title,
        layer=layer,
        period=period,
        metrics=metrics_df,
        notes=notes,
        overrides=list(std.overrides),
        conf=conf,
        min_n=min_n,
    )
