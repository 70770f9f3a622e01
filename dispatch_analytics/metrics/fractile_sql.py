"""The SQL of a fractile table: one call of the ``da_fractiles`` macro over a relation.

``da_fractiles`` (``sql/_macros.sql``) is the package's only fractile implementation: the
analyst queries call it directly, :class:`~.fractiles.Fractiles` and the dashboard through
:func:`fractile_sql`::

    rows = ("select z.zone_id, v.value_s, 480 as target_s, 90 as pct, v.excluded_reason "
            "from incident_intervals v left join incident_zones z ... where v.metric = 'travel'")
    con.execute(fractile_sql("rows", keys=("zone_id",), percentiles=(50, 90),
                             ctes=[("rows", rows)])).pl()

The connection needs the macros: the catalog has them, and
:func:`~.queries.install_macros` / :func:`~.queries.prepare` create them on any connection.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .rules import DEFAULT_MIN_N, check_pct

__all__ = ["FRACTILE_COLUMNS", "pcol", "sql_literal", "fractile_sql"]

#: Columns of :func:`fractile_sql` after the group keys (``p<p>_s`` stands for one column per
#: requested percentile, e.g. ``p50_s``, ``p99_9_s``).
FRACTILE_COLUMNS = (
    "n",
    "n_missing",
    "n_excluded",
    "n_unmet",
    "mean_s",
    "p<p>_s",
    "percentile",
    "p_value_s",
    "ci_low_s",
    "ci_high_s",
    "target_s",
    "compliance",
    "met",
    "flag",
    "excluded",
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def pcol(p: float) -> str:
    """The column name of the p-th percentile: ``p90_s``, ``p99_9_s``."""
    return f"p{p:g}_s".replace(".", "_")


def sql_literal(v: Any) -> str:
    """A SQL literal of a Python value (None, bool, number, text, or a list of those)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(float(v)) if isinstance(v, float) else str(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(sql_literal(x) for x in v) + "]"
    return "'" + str(v).replace("'", "''") + "'"


def _relation(source: str) -> str:
    s = source.strip()
    return s if _IDENT.fullmatch(s) or s.startswith("(") else f"({s})"


def _grp(keys: Sequence[str]) -> str:
    if not keys:
        return "true"
    return "{" + ", ".join(f"'{k}': s.{k}" for k in keys) + "}"


def fractile_sql(
    source: str,
    keys: Sequence[str] = (),
    percentiles: Sequence[float] = (),
    *,
    conf: float | str = 0.95,
    min_n: int | str = DEFAULT_MIN_N,
    placeholders: str | None = None,
    ctes: Sequence[tuple[str, str]] = (),
) -> str:
    """A select of the fractile table of ``source``, one row per group of ``keys``.

    Parameters
    ----------
    source : str
        A relation (a table, view or CTE of the enclosing query) or a select, with the columns
        ``keys...``, ``value_s``, ``target_s``, ``pct`` and ``excluded_reason`` (NULL when the
        value counts, else why not: see ``da_fractiles`` in ``sql/_macros.sql``).
    keys : the group columns of ``source``; they come first in the result, in this order
    percentiles : the fractiles to report as columns ``p<p>_s`` (nearest-rank)
    conf, min_n : the CI confidence and the small-sample threshold: numbers, or SQL such as
        ``"$min_n"``
    placeholders : str, optional
        A relation or select with the columns ``keys...``, ``target_s``, ``pct``: groups to list
        even when ``source`` has no row for them (n = 0, flag ``no_data``).
    ctes : ``(name, select)`` pairs to define first (``source`` may be one of them)

    Returns
    -------
    str
        ``keys...`` then :data:`FRACTILE_COLUMNS`, ordered by the keys (NULLs last). Use it as
        a statement or as the body of a CTE.
    """
    for p in percentiles:
        check_pct(p)
    keys = list(keys)
    for k in keys:
        if not _IDENT.fullmatch(k):
            raise ValueError(f"group key {k!r} is not a column name")
    rows = (
        f"  select {_grp(keys)} as grp, s.value_s, s.target_s, s.pct, s.excluded_reason\n"
        f"  from {_relation(source)} s"
    )
    if placeholders is not None:
        rows += (
            f"\n  union all\n  select {_grp(keys)} as grp, null::double, s.target_s, s.pct, "
            f"null::varchar\n  from {_relation(placeholders)} s"
        )
    pcts = ", ".join(sql_literal(float(p)) for p in percentiles)
    pcols = "".join(f"fractiles_s[{i}] as {pcol(p)}, " for i, p in enumerate(percentiles, start=1))
    args = f"percentiles := [{pcts}]::double[], conf := {_arg(conf)}, min_n := {_arg(min_n)}"
    order = f"\norder by {', '.join(f'{k} nulls last' for k in keys)}" if keys else ""
    defs = "".join(f"{name} as (\n{body}\n), " for name, body in ctes)
    return (
        f"with {defs}fractile_rows as (\n{rows}\n)\n"
        f"select {''.join(f'grp.{k} as {k}, ' for k in keys)}"
        f"n, n_missing, n_excluded, n_unmet, mean_s, {pcols}percentile, p_value_s, ci_low_s, "
        "ci_high_s, target_s, compliance, met, flag, excluded\n"
        f"from da_fractiles(fractile_rows, {args}){order}"
    )


def _arg(v: float | str) -> str:
    return v if isinstance(v, str) else sql_literal(v)
