"""The compliance :class:`Report` and its outputs: plain text, CSV, JSON and XLSX.

:func:`~dispatch_analytics.metrics.report.compliance_report` computes a report; this module
holds what it holds (``table``, ``quality``, ``metrics`` and the metadata every output states)
and writes it out. Non-finite values (an ERF never assembled) are null in JSON and XLSX.
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

from .. import fmt
from .fractiles import CI_METHOD, METHOD, MetricError

__all__ = ["Report"]


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
    agency: str | None = None
    first_date: dt.date | None = None
    last_date: dt.date | None = None
    #: calls of each category the profile's ``[scope]`` left out of every objective
    out_of_scope: dict[str, int] = field(default_factory=dict)
    #: that in one line ("312 police calls not judged against NFPA 1710 ..."), or None
    scope_note: str | None = None
    generated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    # ------------------------------------------------------------------------------ metadata
    @property
    def metadata(self) -> dict[str, Any]:
        """Profile, percentile and CI method, grouping, generation time, overrides, notes."""
        return {
            "agency": self.agency,
            "profile": self.profile,
            "title": self.title,
            "first_date": self.first_date.isoformat() if self.first_date else None,
            "last_date": self.last_date.isoformat() if self.last_date else None,
            "percentile_method": self.method,
            "ci_method": self.ci_method,
            "ci_confidence": self.conf,
            "min_n": self.min_n,
            "layer": self.layer,
            "period": self.period,
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
            "overrides": list(self.overrides),
            "notes": list(self.notes),
            "out_of_scope": dict(self.out_of_scope),
            "scope_note": self.scope_note,
        }

    def header_lines(self) -> list[str]:
        """The method lines of ``--verbose``: profile, percentile and CI method, flags,
        grouping, overrides, each metric's timestamps and filters, the notes."""
        lines = [
            f"Compliance report: {self.agency or 'all agencies'}, profile {self.profile} "
            f"({self.title})",
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
                else ("no target" if r["target_s"] is None else fmt.duration(r["target_s"]))
            )
            lines.append(
                f"  {r['standard']}: {r['metric']} ({r['level']}) {r['start']} -> "
                f"{r['end']} [{r['basis']}], {tgt} @ p{r['percentile']:g}"
                + (f", {r['filters']}" if r["filters"] else "")
                + (f"; calls counted: {r['calls']}" if r.get("calls") else "")
            )
        if self.scope_note:
            lines.append(f"Scope: {self.scope_note}")
        if self.notes:
            lines.append("Notes:")
            lines.extend(f"  - {n}" for n in self.notes)
        return lines

    # ------------------------------------------------------------------------------- outputs
    def to_text(self, verbose: bool = False, width: int = 120) -> str:
        """Text for people: one line per interval (interval, target, percentile, compliance,
        result, n, calls counted) and a compact footer; ``verbose`` adds the method, CIs,
        exclusions and the data quality (:mod:`.report_text`). No line exceeds ``width``."""
        from .report_text import report_text

        return report_text(self, verbose=verbose, width=width)

    def to_csv(
        self, path: str | os.PathLike[str] | None = None, which: str = "table"
    ) -> str | None:
        """The table (or the quality table) as CSV.

        Parameters
        ----------
        path : path, optional
            The file to write; None returns the text.
        which : {"table", "quality"}
            The part to write.

        Returns
        -------
        str or None
            The CSV text when no path is given.

        Raises
        ------
        MetricError
            An unknown ``which``.
        """
        df = self._pick(which)
        if path is None:
            return df.write_csv()
        df.write_csv(os.fspath(path))
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
        """JSON object: metadata, metrics, table, quality.

        Non-finite values are null (an ERF never assembled is counted in n_unmet).

        Parameters
        ----------
        path : path, optional
            The file to write (with a final newline); None returns the text.

        Returns
        -------
        str or None
            The JSON text when no path is given.
        """
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        if path is None:
            return text
        Path(path).write_text(text + "\n", encoding="utf-8")
        return None

    def to_xlsx(self, path: str | os.PathLike) -> Path:
        """An Excel workbook with sheets compliance, quality, metrics and about.

        Parameters
        ----------
        path : path
            The ``.xlsx`` file to write.

        Returns
        -------
        Path
            ``path``.

        Raises
        ------
        MetricError
            ``xlsxwriter`` is not installed.
        """
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
