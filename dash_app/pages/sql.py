"""The SQL console page: free or saved (parameterised) read-only SQL, results, CSV download."""

from __future__ import annotations

from dash import dcc, html, no_update

from ..components import CARD, data_table, table_props
from ..data import DataSource
from ..sql_console import run_console_sql

__all__ = [
    "coerce_param",
    "csv_download",
    "layout",
    "run_outputs",
    "saved_query_inputs",
    "sql_view",
]

_DEFAULT_SQL = (
    "select call_category, count(*) as n,\n"
    "  quantile_disc(total_response_s, 0.9) as p90_s\nfrom incidents "
    "group by 1 order by n desc"
)


def _editor(saved_queries: list[dict]) -> html.Div:
    """The saved-query chooser, its parameters, the SQL text and the buttons."""
    return html.Div(
        [
            html.Label("Saved query"),
            dcc.Dropdown(
                id="sql-saved",
                options=[{"label": q["name"], "value": q["name"]} for q in saved_queries],
                placeholder="free SQL",
            ),
            html.Div(id="sql-params"),
            html.Label("SQL (read-only; one SELECT)"),
            dcc.Textarea(
                id="sql-text",
                value=_DEFAULT_SQL,
                style={"width": "100%", "height": "140px", "fontFamily": "monospace"},
            ),
            html.Button("Run", id="sql-run", n_clicks=0),
            html.Button(
                "Download CSV", id="sql-download-btn", n_clicks=0, style={"marginLeft": "10px"}
            ),
            dcc.Download(id="sql-download"),
        ],
        style=CARD,
    )


def layout(saved_queries: list[dict]) -> html.Div:
    """The SQL page's structure; ``saved_queries`` fill the chooser."""
    return html.Div(
        [
            _editor(saved_queries),
            html.Div(
                id="sql-error",
                style={"color": "#b71c1c", "padding": "6px 10px", "whiteSpace": "pre-wrap"},
            ),
            html.Div(id="sql-info", style={"color": "#555", "padding": "0 10px"}),
            html.Div(data_table("sql-result", 20), style=CARD),
        ]
    )


def saved_query_inputs(by_name: dict[str, dict], name: str | None):
    """(SQL text, parameter inputs) for the chosen saved query; ``by_name`` maps names to
    queries (``name``, ``sql``, ``params``)."""
    if not name or name not in by_name:
        return no_update, []
    q = by_name[name]
    inputs = [
        html.Div(
            [
                html.Label(f"${p['name']}: {p['doc']}"),
                dcc.Input(
                    id={"type": "sql-param", "name": p["name"]},
                    value=p.get("default"),
                    debounce=True,
                    style={"width": "100%"},
                ),
            ]
        )
        for p in q["params"]
    ]
    return q["sql"], inputs


def coerce_param(v):
    """A parameter's text as int, float or text; empty is None."""
    if v in (None, ""):
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        try:
            return float(v)
        except (TypeError, ValueError):
            return v


def _params(by_name: dict[str, dict], text, saved, values, ids) -> dict | None:
    """The saved query's parameters that its (possibly edited) text still uses."""
    if not (saved and saved in by_name and ids):
        return None
    params = {i["name"]: coerce_param(v) for i, v in zip(ids, values, strict=True)}
    used = {p["name"] for p in by_name[saved]["params"]}
    return {k: v for k, v in params.items() if k in used and f"${k}" in (text or "")}


def sql_view(
    ds: DataSource,
    sql: str,
    params: dict | None,
    row_limit: int,
    timeout_s: float,
    limits: dict | None = None,
):
    """Run console SQL in the sandbox: (data, columns, error, info, csv_text).

    ``limits``: ``max_bytes``, ``memory_limit``, ``threads`` (see ``console_limits``)."""
    limits = limits or {}
    res = run_console_sql(
        ds.store.catalog_path, ds.store.lake, sql, row_limit, timeout_s, params=params, **limits
    )
    if res.error:
        return [], [], res.error, "", None
    data, cols = table_props(res.frame)
    info = f"{res.frame.height:,} rows in {res.elapsed_s:.2f} s; times in {res.timezone}"
    if res.truncated == "rows":
        info += f" (cut at the row limit of {row_limit:,})"
    elif res.truncated:
        mb = limits.get("max_bytes", 50_000_000) / 1e6
        info += f" (cut at the size limit of {mb:g} MB)"
    return data, cols, "", info, res.frame.write_csv()


def run_outputs(
    ds: DataSource, by_name, text, saved, values, ids, row_limit, timeout_s, limits=None
):
    """(data, columns, error, info) of the Run button: the text with the saved query's
    parameter values (from the pattern-matched inputs ``ids`` / ``values``)."""
    params = _params(by_name, text, saved, values, ids)
    data, cols, error, info, _csv = sql_view(ds, text, params, row_limit, timeout_s, limits)
    return data, cols, error, info


def csv_download(ds: DataSource, text, row_limit: int, timeout_s: float, limits=None):
    """The query's result as a CSV download (``no_update`` when it fails)."""
    *_rest, csv = sql_view(ds, text, None, row_limit, timeout_s, limits)
    if csv is None:
        return no_update
    return dcc.send_string(csv, "query_result.csv")
