"""The overview page: one card per interval (percentile vs target, compliance, volume,
sparkline, recent windows) and the alerts panel."""

from __future__ import annotations

from pathlib import Path

from dash import dcc, html

from dispatch_analytics import fmt
from dispatch_analytics.schema.intervals import intervals

from .. import figures, stats
from ..alerts import stored_alerts
from ..components import CARD, ROW, fmt_pct, fmt_s
from ..data import INTERVALS, DataSource
from ..filters import Filters

__all__ = ["layout", "overview_view"]

_REGISTRY = {iv.name: iv for iv in intervals(dashboard=True)}


def layout() -> html.Div:
    """The overview page's structure (cards and alerts are filled by a callback)."""
    return html.Div(
        [
            html.Div(id="overview-cards", style=ROW),
            html.Div(
                [html.H4("Alerts", style={"margin": "4px"}), html.Div(id="alerts-panel")],
                style=CARD,
            ),
        ]
    )


def _colour(summary: dict, target_s, pct: float) -> str:
    """Green when the interval meets its target, red when not, grey without a target."""
    # with nearest-rank, "p <= target" is "compliance >= pct%"; the latter also works
    # when the target depends on the call category
    c = summary["compliance"]
    ok = c is not None and target_s is not None and c >= pct / 100
    return "#2e7d32" if ok else "#c62828" if target_s is not None else "#333"


def _windows_table(win, pct: float, has_target: bool) -> html.Table:
    """The card's table of recent windows: n, percentile and compliance per window."""
    rows = [
        html.Tr(
            [
                html.Td(w["window"]),
                html.Td(fmt.count(w["n"])),
                html.Td(fmt_s(w["p_s"])),
                html.Td(fmt_pct(w["compliance"]) if has_target else "–"),
            ]
        )
        for w in win.iter_rows(named=True)
    ]
    return html.Table(
        [
            html.Thead(
                html.Tr(
                    [
                        html.Th(x, title=fmt.definition(c))
                        for x, c in (
                            ("window", ""),
                            ("calls", "n"),
                            (f"{pct:g}th pct", "p_value_s"),
                            ("compliance", "compliance"),
                        )
                    ]
                )
            ),
            html.Tbody(rows),
        ],
        style={"fontSize": "12px", "width": "100%"},
    )


def _kpi(summary: dict, target_s, pct: float) -> html.Div:
    """The headline: the percentile (coloured against the target) and the target."""
    return html.Div(
        [
            html.Span(
                f"{pct:g}th pct {fmt_s(summary['p_s'])}",
                className="kpi",
                title=fmt.definition("p_value_s"),
                style={"fontSize": "24px", "color": _colour(summary, target_s, pct)},
            ),
            html.Span(
                f"  target {stats.target_label(target_s)}"
                if target_s is not None
                else "  no target in profile"
            ),
        ]
    )


def _card(metric: str, interval: tuple, parts: dict, target: tuple) -> html.Div:
    """One interval's card; ``parts`` is its entry of ``stats.overview_stats``."""
    label, start, end = interval
    iv = _REGISTRY.get(metric)
    target_s, pct = target
    s, spark, win = (parts[k] for k in ("summary", "trend", "windows"))
    has_target = target_s is not None
    # the definition in words; the timestamps on hover (transparency without clutter)
    words = iv.description if iv is not None else ""
    stamps = f"{iv.start} → {iv.end}; {iv.basis}" if iv is not None else f"{start} → {end}"
    return html.Div(
        [
            html.Div(label, style={"fontWeight": "600"}, title=stamps),
            html.Div(
                words,
                title=stamps,
                className="card-definition",
                style={"fontSize": "11px", "color": "#777"},
            ),
            _kpi(s, target_s, pct),
            html.Div(
                f"compliance {fmt_pct(s['compliance']) if has_target else '–'}"
                f" · {fmt.count(s['n'])} of {fmt.count(s['volume'])} calls counted",
                title=f"{fmt.definition('compliance')}; {fmt.definition('n')}",
            ),
            dcc.Graph(
                figure=figures.sparkline(spark, stats.single_target(target_s)),
                config={"displayModeBar": False},
                style={"height": "70px"},
            ),
            _windows_table(win, pct, has_target),
        ],
        style=CARD,
        id=f"card-{metric}",
        className="interval-card",
    )


def _alerts_panel(ds, snap, f: Filters, targets: dict, alerts_log, window_days: int, min_n: int):
    """The agency's alerts for this data version (evaluated once over all its calls, by
    whichever request came first; :func:`dash_app.alerts.stored_alerts`) as a panel."""
    agency = snap.agency(f.agency)
    alerts = stored_alerts(
        ds.store.root, snap, agency, targets, window_days, min_n, alerts_log=alerts_log
    )
    if alerts:
        return html.Ul([html.Li(a.message(), className="alert-item") for a in alerts[:50]])
    return html.Div(
        f"No interval is below its target share over the last {window_days} days.",
        className="no-alerts",
    )


def overview_view(
    ds: DataSource,
    f: Filters,
    targets: dict[str, tuple[float, float]],
    alerts_log: Path | None,
    window_days: int = 7,
    min_n: int = 20,
    alert_targets: dict | None = None,
):
    """Cards per interval (percentile vs target, compliance, volume, sparkline, windows)
    and the alerts panel.

    Parameters
    ----------
    ds : DataSource
    f : Filters
    targets : dict
        ``{metric: (target_s, percentile)}`` of the chosen standard.
    alerts_log : Path or None
        Where new alerts are appended (None: not logged).
    window_days, min_n : int
        The alert window and the fewest incidents an alert needs.
    alert_targets : dict, optional
        The targets alerts are evaluated against (the server's standards profile: alerts are
        the same for every viewer); default ``targets``.

    Returns
    -------
    (list of dash.html.Div, dash component)
        The cards and the alerts panel.
    """
    snap = ds.snapshot()
    allstats = stats.overview_stats(snap, f, targets, "week")
    cards = [
        _card(metric, interval, allstats[metric], targets.get(metric, (None, 90.0)))
        for metric, interval in INTERVALS.items()
    ]
    panel = _alerts_panel(ds, snap, f, alert_targets or targets, alerts_log, window_days, min_n)
    return cards, panel
