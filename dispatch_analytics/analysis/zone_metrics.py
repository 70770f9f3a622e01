"""Zone metrics: the fractiles of one response interval per zone of a layer, as a GeoDataFrame.

The planners' layer of ``dispatch export zones`` and ``dispatch map zones``::

    from dispatch_analytics import Store
    from dispatch_analytics.analysis.zone_metrics import ZoneMetrics
    zm = ZoneMetrics.from_store(Store("dispatch_data"), layer="neighborhoods",
                                metric="travel", date_from="2017-01-01", date_to="2017-01-07")
    zm.frame        # GeoDataFrame (EPSG:4326), one row per zone of the layer, in zone order
    zm.meta         # ExportMeta: title, dates, profile, a definition per column
    zm.fractiles    # the Fractiles object the numbers come from (its SQL, its notes)

The numbers are those of :meth:`Fractiles.from_store` grouped by ``layer:<layer>`` (one
definition everywhere: nearest-rank percentiles, order-statistic CI, compliance as the share of
values at or below the target). Zones without incidents in the date range are kept, with
``n = 0`` and status ``no_data``. Incidents outside every zone are counted in
``meta.details["incidents_outside_layer"]``, never dropped silently.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import dispatch_analytics.fmt as fmt  # `from .. import fmt` would import the facade

from ..errors import MetricError, ZoneError
from ..io.export import ColumnInfo, ExportMeta
from ..metrics.agency_scope import agency_scope
from ..metrics.fractiles import DEFAULT_MIN_N, Fractiles
from ..spatial.layers import read_layer

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd

__all__ = [
    "STATUS_VALUES",
    "ZoneMetrics",
    "parse_date",
    "zone_columns",
]

#: Values of the ``status`` column.
STATUS_VALUES = ("met", "not_met", "no_target", "no_data")
_PERCENTILES = (50.0, 90.0, 95.0)


def _pcol(p: float) -> str:
    """The column of the p-th percentile (``p90_s``), as :class:`Fractiles` names it."""
    return f"p{p:g}_s".replace(".", "_")


def parse_date(value: Any, arg: str) -> dt.date | None:
    """A date from ``YYYY-MM-DD`` text, a date or None; MetricError naming ``arg`` otherwise.

    Parameters
    ----------
    value : str, datetime.date or None
    arg : str
        The parameter's name for the message (``--from``).

    Returns
    -------
    datetime.date or None
    """
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise MetricError(f"`{arg}` {value!r} is not a date; write it as YYYY-MM-DD") from None


def _bounds(con, date_from: dt.date | None, date_to: dt.date | None):
    """Local-midnight bounds in the agency time zone (UTC when the store holds several)."""
    tzs = [r[0] for r in con.execute("select distinct timezone from incidents").fetchall() if r[0]]
    tz_name = tzs[0] if len(tzs) == 1 else "UTC"
    tz = ZoneInfo(tz_name)
    since = dt.datetime.combine(date_from, dt.time(0), tz) if date_from else None
    until = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(0), tz) if date_to else None
    return since, until, tz_name


def _in_range(con, since, until) -> tuple[int, Any, Any]:
    where, params = [], {}
    if since is not None:
        where.append("call_received_at >= cast($since as timestamptz)")
        params["since"] = since.isoformat()
    if until is not None:
        where.append("call_received_at < cast($until as timestamptz)")
        params["until"] = until.isoformat()
    sql = "select count(*), min(call_received_local_at), max(call_received_local_at) from incidents"
    if where:
        sql += " where " + " and ".join(where)
    n, first, last = con.execute(sql, params).fetchone()
    return int(n), first, last


def zone_columns(
    fr: Fractiles, layer: str, has_name: bool = True, has_density: bool = False
) -> list[ColumnInfo]:
    """The definition of every column of a zone-metrics frame built from ``fr``.

    Parameters
    ----------
    fr : Fractiles
        The fractiles the values come from (metric, timestamps, percentile, target).
    layer : str
    has_name, has_density : bool
        Whether the frame has the ``name`` / ``density_class`` column.

    Returns
    -------
    list of ColumnInfo
    """
    m = f"{fmt.label(fr.metric + '_s')} ({fr.start_field} -> {fr.end_field}, {fr.basis})"
    pct = fr.percentile if fr.percentile is not None else 90.0
    nr = (
        "nearest-rank: the value at rank ceil(p/100 x n) of the sorted values, i.e. the "
        "smallest observed value with at least p% of the values at or below it"
    )
    target = (
        f"--target-s {fr.target_s:g}"
        if fr.target_s is not None
        else f"profile {fr.profile}, entry {', '.join(e.key for e in fr.entries)}"
        if fr.entries
        else "no target: the profile sets none for this metric"
    )
    cols = [
        ColumnInfo("zone_id", f"zone identifier in layer {layer} (the id field of `zones load`)")
    ]
    if has_name:
        cols.append(ColumnInfo("name", "zone name (the name field of `zones load`)"))
    if has_density:
        cols.append(ColumnInfo("density_class", "NFPA 1720 demand-zone class of the zone"))
    cols += [
        ColumnInfo("area_km2", "zone area in km², measured in an equal-area projection"),
        ColumnInfo("n", f"incidents in the zone, in the date range, with a value of {m}"),
        ColumnInfo(
            "n_missing",
            f"incidents in the zone, in the date range, lacking {fr.start_field} or "
            f"{fr.end_field} (not counted in n)",
        ),
        ColumnInfo("mean_s", f"mean of {m}, seconds (for reference: targets are percentiles)"),
    ]
    for p in sorted({*_PERCENTILES, float(pct)}):
        cols.append(ColumnInfo(_pcol(p), f"{p:g}th percentile of {m}, seconds; {nr}"))
    cols += [
        ColumnInfo("percentile", "the percentile compared with the target (e.g. 90)"),
        ColumnInfo(
            "ci_low_s",
            f"lower bound of the {fr.conf:.0%} distribution-free (order-statistic) confidence "
            f"interval of the {pct:g}th percentile, seconds; empty = too few values to bound it",
        ),
        ColumnInfo(
            "ci_high_s",
            f"upper bound of the {fr.conf:.0%} distribution-free (order-statistic) confidence "
            f"interval of the {pct:g}th percentile, seconds; empty = too few values to bound it",
        ),
        ColumnInfo("target_s", f"the target, seconds ({target}); empty = no target"),
        ColumnInfo(
            "compliance",
            "share of the values at or below target_s, a fraction 0-1 (0.9 = 90%); empty "
            "without a target or values",
        ),
        ColumnInfo(
            "status",
            f"met ({pct:g}th percentile <= target_s, i.e. compliance >= {pct:g}%), not_met, "
            "no_target (no target set) or no_data (n = 0)",
        ),
        ColumnInfo(
            "flag",
            f"small_sample (n < {fr.min_n}), ci_unbounded (a CI bound is empty) or empty",
            label="note",
        ),
    ]
    return cols


def _status(n: int, met: Any, target: Any) -> str:
    if not n:
        return "no_data"
    if target is None or (isinstance(target, float) and math.isnan(target)):
        return "no_target"
    return "met" if bool(met) else "not_met"


@dataclass
class ZoneMetrics:
    """Per-zone fractiles of one interval, with zone geometry. Build with :meth:`from_store`.

    Attributes
    ----------
    frame : geopandas.GeoDataFrame
        EPSG:4326, one row per zone in zone order: ``zone_id, name, [density_class],
        area_km2, n, n_missing, mean_s, p50_s, p90_s, p95_s, [p<pct>_s], percentile,
        ci_low_s, ci_high_s, target_s, compliance, status, flag, geometry``.
    meta : ExportMeta
        Title, date range, profile, a definition per column, details (metric, timestamps,
        method, target, incidents outside the layer).
    fractiles : Fractiles
    layer, metric : str
    date_from, date_to : datetime.date or None
        The period covered (the bounds asked for, else the data's first / last local date).
    n_incidents, n_outside : int
        Incidents received in the period; those outside every zone of the layer.
    timezone : str
        Zone of the local dates.
    warnings : list of str
        Things a person should be told (no target for the metric ...).
    """

    frame: gpd.GeoDataFrame
    meta: ExportMeta
    fractiles: Fractiles
    layer: str
    metric: str
    date_from: dt.date | None
    date_to: dt.date | None
    n_incidents: int
    n_outside: int
    timezone: str
    agency: str | None = None
    warnings: list[str] = field(default_factory=list)

    @classmethod
    # Long: numpydoc parameters; the body is the sequence validate -> fractiles -> join.
    def from_store(
        cls,
        store: Any,
        layer: str,
        metric: str = "total_response",
        profile: str | None = "nfpa1710",
        target_s: float | None = None,
        date_from: str | dt.date | None = None,
        date_to: str | dt.date | None = None,
        agency: str | None = None,
        min_n: int = DEFAULT_MIN_N,
        overrides: str | dict | None = None,
    ) -> ZoneMetrics:
        """Compute the zone layer with its metrics.

        Parameters
        ----------
        store : Store
            The store (its root gives the zone layer, its catalog the incidents).
        layer : str
            A loaded zone layer.
        metric : str
            An incident-level interval (``total_response``, ``travel``, ...) or an entry of
            the profile (``turnout_ems``).
        profile : str, optional
            Standards profile giving the target and percentile (default ``nfpa1710``).
        target_s : float, optional
            An explicit target, replacing the profile's.
        date_from, date_to : str or date, optional
            Local dates, inclusive (calls received from ``date_from`` 00:00 to the end of
            ``date_to`` in the agency time zone).
        agency : str, list of str or None
            Only this agency's calls (several: taken together; ``"all"``: every agency; None:
            the store's only agency, an AgencyError when it holds several).
        min_n : int
            Zones with fewer values are flagged ``small_sample``.
        overrides : path or dict, optional
            Local target overrides applied to the profile.

        Returns
        -------
        ZoneMetrics

        Raises
        ------
        ZoneError
            The layer is not loaded or has no zones.
        MetricError
            Bad dates, no incidents in the period, an unknown metric, or a profile with
            several targets for the metric (pick one entry).
        """
        d_from, d_to = parse_date(date_from, "--from"), parse_date(date_to, "--to")
        if d_from and d_to and d_from > d_to:
            raise MetricError(f"`--from` {d_from} is after `--to` {d_to}; swap them")
        zones = read_layer(store.root, layer)
        if len(zones) == 0:
            raise ZoneError(
                f"`--layer` {layer!r} has no zones; reload it with `dispatch zones load`"
            )
        from ._common import resolve_agencies

        con = store.connect(read_only=True)
        con = agency_scope(con, resolve_agencies(con, agency))  # None: the only agency
        try:
            since, until, tz = _bounds(con, d_from, d_to)
            n_inc, first, last = _in_range(con, since, until)
            if n_inc == 0:
                raise _no_incidents(con, d_from, d_to)
            filters = {k: v for k, v in (("since", since), ("until", until)) if v is not None}
            fr = Fractiles.from_store(
                con,
                agency="all",  # the connection is already scoped
                metric=metric,
                by=(f"layer:{layer}",),
                percentiles=_PERCENTILES,
                target_s=target_s,
                profile=profile,
                filters=filters,
                min_n=min_n,
                overrides=overrides,
            )
        finally:
            con.close()
        frame, n_outside = _join(zones, fr, metric, profile)
        warnings = []
        if fr.target_s is None and not fr.table["target_s"].is_not_null().any():
            warnings.append(
                f"profile {profile} sets no target for {fr.metric}: compliance is empty and "
                "status is no_target; give `--target-s` or choose a profile that has one"
            )
        period_from = d_from or (first.date() if first else None)
        period_to = d_to or (last.date() if last else None)
        meta = _zone_meta(
            fr,
            frame,
            layer,
            agency,
            warnings,
            (period_from, period_to),
            tz,
            (first, last),
            n_inc,
            n_outside,
        )
        return cls(
            frame=frame,
            meta=meta,
            fractiles=fr,
            layer=layer,
            metric=fr.metric,
            date_from=period_from,
            date_to=period_to,
            n_incidents=n_inc,
            n_outside=n_outside,
            timezone=tz,
            agency=agency,
            warnings=warnings,
        )

    def __repr__(self) -> str:
        return (
            f"ZoneMetrics(layer={self.layer!r}, metric={self.metric!r}, zones={len(self.frame)}, "
            f"{self.date_from} to {self.date_to}, incidents={self.n_incidents})"
        )


def _no_incidents(con, d_from, d_to) -> MetricError:
    """The error for a period without incidents: what the store does hold, and the fix."""
    n_all, a, b = _in_range(con, None, None)
    held = (
        f"the store holds {a:%Y-%m-%d} to {b:%Y-%m-%d}" if n_all else "the store holds no incidents"
    )
    return MetricError(
        f"no incidents received from {d_from or 'the start'} to {d_to or 'the end'}; "
        f"{held}; change `--from` / `--to`"
        + ("" if n_all else " or ingest data first (`dispatch ingest`)")
    )


def _zone_meta(fr, frame, layer, agency, warnings, period, tz, calls, n_inc, n_outside):
    """The export metadata of a zone-metrics frame."""
    (period_from, period_to), (first, last) = period, calls
    has_name, has_density = "name" in frame.columns, "density_class" in frame.columns

    return ExportMeta(
        title=f"{fmt.label(fr.metric + '_s').capitalize()} by zone, layer {layer}",
        kind="zones",
        columns=zone_columns(fr, layer, has_name, has_density),
        date_from=str(period_from) if period_from else None,
        date_to=str(period_to) if period_to else None,
        profile=fr.profile,
        agency=agency,
        details={
            "layer": layer,
            **{k: v for k, v in fr.metadata.items() if k not in ("by", "filters", "profile")},
            "target_s": float(frame["target_s"].dropna().iloc[0])
            if frame["target_s"].notna().any()
            else None,
            "target_source": "--target-s"
            if fr.target_s is not None
            else f"profile {fr.profile}"
            if fr.entries
            else None,
            "timezone": tz,
            "period": "local dates, inclusive (call_received_at in the agency time zone)",
            "first_call_local": str(first) if first else None,
            "last_call_local": str(last) if last else None,
            "incidents_in_period": n_inc,
            "incidents_outside_layer": n_outside,
            "zones": int(len(frame)),
        },
        notes=[*fr.notes, *warnings],
    )


def _text(values) -> list[str | None]:
    import pandas as pd

    return [None if pd.isna(v) else str(v) for v in values]


def _join(zones, fr: Fractiles, metric: str, profile) -> tuple[gpd.GeoDataFrame, int]:
    """The layer's zones (in order) left-joined with the fractile rows; incidents outside."""
    import geopandas as gpd
    import pandas as pd

    table = fr.table
    if (
        "standard" in table.columns
        or table.filter(table["zone_id"].is_not_null())["zone_id"].is_duplicated().any()
    ):
        entries = ", ".join(e.key for e in fr.entries)
        raise MetricError(
            f"profile {profile} has several targets for `--metric {metric}` ({entries}); "
            f"choose one with `--metric {fr.entries[0].key if fr.entries else metric}`, or "
            "give `--target-s`"
        )
    outside = table.filter(table["zone_id"].is_null())
    n_outside = int(outside["n"].cast(int).sum()) + int(outside["n_missing"].cast(int).sum())
    pct = fr.percentile if fr.percentile is not None else 90.0
    rows = {r["zone_id"]: r for r in table.iter_rows(named=True) if r["zone_id"] is not None}
    pcols = [_pcol(p) for p in sorted({*_PERCENTILES, float(pct)})]
    data: dict[str, Any] = {"zone_id": _text(zones["zone_id"])}
    for c in ("name", "density_class"):  # only when the layer has them
        if zones[c].notna().any():
            data[c] = _text(zones[c])
    data["area_km2"] = zones["area_km2"].astype(float).tolist()
    empty: dict[str, Any] = {}
    got = [rows.get(z, empty) for z in data["zone_id"]]
    data["n"] = [int(r.get("n") or 0) for r in got]
    data["n_missing"] = [int(r.get("n_missing") or 0) for r in got]
    for c in ["mean_s", *pcols]:
        src = "p_value_s" if c not in table.columns else c
        data[c] = [r.get(src) for r in got]
    data["percentile"] = [float(pct)] * len(got)
    for c in ("ci_low_s", "ci_high_s", "target_s", "compliance"):
        data[c] = [r.get(c) for r in got]
    target = (
        fr.target_s
        if fr.target_s is not None
        else next((r["target_s"] for r in rows.values() if r.get("target_s") is not None), None)
    )
    data["target_s"] = [t if t is not None else target for t in data["target_s"]]
    data["status"] = [
        _status(n, r.get("met"), t)
        for n, r, t in zip(data["n"], got, data["target_s"], strict=True)
    ]
    data["flag"] = [r.get("flag") if r else "no_data" for r in got]
    frame = pd.DataFrame(data)
    for c in ["mean_s", *pcols, "ci_low_s", "ci_high_s", "target_s", "compliance"]:
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
    for c in ("zone_id", "name", "density_class", "status", "flag"):
        if c in frame.columns:
            frame[c] = frame[c].astype(object)
    return gpd.GeoDataFrame(frame, geometry=zones.geometry.values, crs=zones.crs), n_outside
