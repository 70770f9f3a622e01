"""The compliance report as text a chief can read.

One line per interval (and zone / period when grouped): interval, target, 90th percentile,
compliance, result (met / not met / too few calls / no calls of this kind), n and which calls
it counted; durations as m:ss and shares as % (:mod:`dispatch_analytics.fmt`); a compact
footer with the agency, the profile, the dates and what was not counted. ``verbose`` adds the
method, the confidence intervals, the exclusions and the data-quality table. Every line fits
in :data:`WIDTH` characters. The full frame stays in CSV / JSON / XLSX.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any

import polars as pl

from .. import fmt

__all__ = ["WIDTH", "result_text", "percentile_text", "report_text"]

#: The widest line of the text report.
WIDTH = 120


def result_text(row: dict[str, Any], min_n: int) -> str:
    """The verdict of one line: ``met``, ``not met``, ``too few calls``, ``no calls of this
    kind`` or ``no target``."""
    n = row.get("n") or 0
    if n == 0:
        return "no calls of this kind"
    if n < min_n:
        return "too few calls"
    if row.get("target_s") is None or row.get("met") is None:
        return "no target"
    return "met" if row["met"] else "not met"


def percentile_text(v: Any) -> str:
    """A percentile value for people: m:ss; an effective response force never assembled in
    that share of calls (+inf) reads ``not reached``."""
    if isinstance(v, float) and math.isinf(v) and v > 0:
        return "not reached"
    return fmt.duration(v)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _grid(header: list[str], rows: list[list[str]], right: set[int], width: int) -> list[str]:
    """Aligned columns; the last column is cut to fit ``width``."""
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    # too wide: narrow the widest text (left-aligned) column, one character at a time
    while sum(widths) + 2 * (len(widths) - 1) > width:
        text_cols = [i for i in range(len(widths)) if i not in right and widths[i] > 8]
        if not text_cols:
            break
        widths[max(text_cols, key=lambda i: widths[i])] -= 1

    def line(cells: list[str]) -> str:
        out = []
        for i, c in enumerate(cells):
            c = _cut(c, widths[i])
            out.append(c.rjust(widths[i]) if i in right else c.ljust(widths[i]))
        return "  ".join(out).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _group_cells(row: dict[str, Any], layer: str | None, period: str | None) -> list[str]:
    cells = []
    if layer:
        zone = row.get("zone_name") or row.get("zone_id") or "outside every zone"
        cells.append(_cut(str(zone), 18))
    if period:
        cells.append(fmt.value("period_start", row.get("period_start")))
    return cells


def _main_table(rep: Any, width: int) -> list[str]:
    grouped = bool(rep.layer or rep.period)
    pct = {p for p in rep.table["percentile"].drop_nulls().to_list()}
    pct_head = f"{fmt.number(pct.pop())}th pct" if len(pct) == 1 else "percentile"
    header = [
        *(["zone"] if rep.layer else []),
        *(["period"] if rep.period else []),
        "interval",
        "target",
        pct_head,
        "compliance",
        "result",
        "n",
        *([] if grouped else ["calls counted"]),
    ]
    g = len(header) - (6 if grouped else 7)
    labels = {r["standard"]: r["label"] for r in rep.metrics.iter_rows(named=True)}
    rows = []
    for r in rep.table.iter_rows(named=True):
        label = labels.get(r["standard"]) or r["standard"]
        if grouped:
            label = _cut(label, 24)
        if r.get("density_class"):
            label = f"{label} ({r['density_class']})"
        rows.append(
            [
                *_group_cells(r, rep.layer, rep.period),
                label,
                fmt.duration(r["target_s"]),
                percentile_text(r["p_value_s"]) if r["n"] else fmt.MISSING,
                fmt.share(r["compliance"]) if r["n"] else fmt.MISSING,
                result_text(r, rep.min_n),
                fmt.count(r["n"]),
                *([] if grouped else [r.get("calls") or "all calls"]),
            ]
        )
    right = {g + 1, g + 2, g + 3, g + 5}
    return _grid(header, rows, right, width)


def _excluded_line(rep: Any) -> str | None:
    q = rep.quality
    parts = []
    rej = q.filter(pl.col("section") == "rejects")["n"].sum()
    if rej:
        parts.append(f"{fmt.count(rej)} rows rejected at ingest (list them: dispatch rejects)")
    scope = q.filter(pl.col("section") == "missing_interval_in_scope")
    worst = scope.sort("n", descending=True).head(1)
    if worst.height and worst["n"][0]:
        labels = {r["standard"]: r["label"] for r in rep.metrics.iter_rows(named=True)}
        name = labels.get(worst["item"][0]) or worst["item"][0]
        parts.append(
            f"calls lacking a timestamp of their interval, at most {fmt.count(worst['n'][0])} "
            f"of {fmt.count(worst['total'][0])} ({name})"
        )
    skipped = q.filter(pl.col("section") == "skipped_metric")["item"].to_list()
    if skipped:
        parts.append("not computed: " + ", ".join(skipped) + " (see --verbose)")
    return ("Not counted: " + "; ".join(parts) + ".") if parts else None


def _footer(rep: Any) -> list[str]:
    dates = ""
    if rep.first_date and rep.last_date:
        dates = f" · calls {rep.first_date} to {rep.last_date} (local dates)"
    lines = [
        f"Agency: {rep.agency or 'all agencies'} · profile {rep.profile}{dates}",
        f"Percentile: {rep.method} (the 90th percentile is at or under the target exactly when "
        "compliance is at least 90%).",
        f"Too few calls: under {rep.min_n}. Durations m:ss, shares %.",
    ]
    if rep.layer or rep.period:
        calls = {r["label"]: r["calls"] for r in rep.metrics.iter_rows(named=True)}
        lines.append("Calls counted: " + "; ".join(f"{k}: {v}" for k, v in calls.items()) + ".")
    if getattr(rep, "scope_note", None):
        lines.append(rep.scope_note[0].upper() + rep.scope_note[1:] + ".")
    exc = _excluded_line(rep)
    if exc:
        lines.append(exc)
    if any("DEFAULT figures" in n for n in rep.notes):
        lines.append(
            f"Profile {rep.profile} holds default figures: set the agency's adopted targets "
            "with --config."
        )
    lines.append("More: --verbose (method, CI, exclusions); --format csv, json or xlsx (all).")
    return lines


def _verbose(rep: Any, width: int) -> list[str]:
    out = ["", "Method"]
    out += [f"  {ln}" for ln in rep.header_lines()]
    header = ["interval", "CI low", "CI high", "excluded", "never assembled", "timestamps"]
    rows = []
    labels = {r["standard"]: r for r in rep.metrics.iter_rows(named=True)}
    for r in rep.table.iter_rows(named=True):
        m = labels.get(r["standard"], {})
        rows.append(
            [
                *_group_cells(r, rep.layer, rep.period),
                m.get("label") or r["standard"],
                percentile_text(r["ci_low_s"]),
                percentile_text(r["ci_high_s"]),
                fmt.count(r["n_missing"]),
                fmt.count(r["n_unmet"]),
                f"{r['start']} -> {r['end']}",
            ]
        )
    grp = [*(["zone"] if rep.layer else []), *(["period"] if rep.period else [])]
    g = len(grp)
    out += ["", "Confidence intervals and exclusions"]
    out += _grid([*grp, *header], rows, {g + 1, g + 2, g + 3, g + 4}, width)
    q = rep.quality
    qrows = [
        [
            str(r["section"]).replace("_", " "),
            _cut(str(r["source"] or r["layer"] or ""), 40),
            str(r["item"]).replace("_", " "),
            fmt.count(r["n"]),
            fmt.count(r["total"]),
            fmt.share(r["share"]),
        ]
        for r in q.iter_rows(named=True)
    ]
    out += ["", "Data quality (what was not counted and why)"]
    out += _grid(["section", "source / layer", "item", "n", "of", "share"], qrows, {3, 4, 5}, width)
    return out


def report_text(rep: Any, verbose: bool = False, width: int = WIDTH) -> str:
    """The report as text: the one-line-per-interval table, a compact footer and, with
    ``verbose``, the method, CIs, exclusions and data quality; no line over ``width``."""
    title = f"Compliance report · {rep.agency or 'all agencies'} · {rep.title}"
    lines = [_cut(title, width)]
    if rep.layer or rep.period:
        lines.append(
            f"By {' and '.join(x for x in (rep.layer and f'zone ({rep.layer})', rep.period) if x)}"
        )
    lines += ["", *_main_table(rep, width), ""]
    for ln in _footer(rep):
        lines += textwrap.wrap(ln, width, subsequent_indent="  ") or [""]
    if verbose:
        for ln in _verbose(rep, width):
            lines += (
                textwrap.wrap(ln, width, subsequent_indent="    ", drop_whitespace=False)
                if len(ln) > width
                else [ln]
            )
    return "\n".join(lines) + "\n"
