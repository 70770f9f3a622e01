"""Impact: did a change work? Before / after of one response interval, with honest uncertainty.

::

    from dispatch_analytics.analysis.impact import Impact
    imp = Impact.from_store(con, before="2024-01-01..2024-03-31", after="2024-05-01..2024-07-31",
                            metric="total_response", layer="station_areas", zone="S07", seed=0)
    imp.before, imp.after    # n, n_calls, calls_per_day, p50_s, p90_s, ci_low_s, ci_high_s, ...
    imp.difference           # p90_diff_s, its bootstrap CI, Mann-Whitney U and p, volume change
    imp.mix                  # call-category shares in each period
    imp.warnings             # e.g. the mix shifted enough to explain the difference
    imp.trend                # the interval by day / week / month over both periods

Rules:

* Periods are local dates, both ends inclusive. They must not overlap (an incident in both would
  be compared with itself, and both tests assume independent samples): overlapping periods are
  refused. An empty period is not an error: its figures are null and a warning says so.
* n, p50, p90 (nearest-rank), the order-statistic 95% CI of p90 and compliance come from the
  library's fractile macros (``da_nearest_rank``, ``da_os_ci_ranks``, ``da_flag``) in
  ``sql/_impact_period.sql``; the trend from :class:`~dispatch_analytics.metrics.fractiles.
  Fractiles`. Calls are selected by their local date of receipt.
* The difference of p90 (after minus before) gets a percentile-bootstrap 95% CI: ``n_boot``
  resamples of each period (seeded, vectorised numpy), the nearest-rank p90 of each, the 2.5th
  and 97.5th nearest-rank percentiles of the differences. The rank test is the two-sided
  Mann-Whitney U (``scipy.stats.mannwhitneyu``) of the two samples.
* Call mix: the share of each call category (``mix_by``) among the measured calls of each
  period. The after period is reweighted to the before period's mix (each after call weighs
  share_before / share_after of its category; categories absent before weigh 0) and its
  weighted nearest-rank p90 reported. **Warning rule:** when the mix moved (total variation
  distance of at least 5 points) and the reweighted difference differs from the raw difference
  by at least half of the raw difference (so the mix alone explains half of it or more, or
  flips its sign), the output warns that the mix may explain the difference.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from ..errors import AnalysisError
from ..metrics.fractiles import Fractiles
from ..metrics.rules import nr_rank as _nr_rank
from ..sql import read_sql
from ._common import (
    INCIDENT_INTERVALS,
    check_agency,
    check_layer,
    connection,
    parse_period,
    resolve_target,
)

__all__ = ["Impact", "bootstrap_p90_diff", "weighted_nearest_rank", "MIX_TVD_MIN"]

#: Smallest total variation distance of the call mix that can trigger the mix warning.
MIX_TVD_MIN = 0.05
_TREND = {"day": 62, "week": 400}  # longest span (days) for each trend period, else month


def nr_rank(n: int, p: float) -> int | None:
    """1-based nearest-rank index (the library's rule)."""
    return _nr_rank(n, p)


def bootstrap_p90_diff(
    before: np.ndarray, after: np.ndarray, n_boot: int = 2000, seed: int | None = 0, pct=90
) -> np.ndarray:
    """``n_boot`` bootstrap replicates of p90(after) - p90(before) (nearest-rank), vectorised
    in chunks of at most about 4M drawn values."""
    b, a = np.asarray(before, float), np.asarray(after, float)
    rng = np.random.default_rng(seed)
    kb, ka = nr_rank(len(b), pct), nr_rank(len(a), pct)
    assert kb and ka
    out = np.empty(n_boot)
    chunk = max(1, 4_000_000 // max(len(a), len(b)))
    for s in range(0, n_boot, chunk):
        m = min(chunk, n_boot - s)
        xb = np.partition(b[rng.integers(0, len(b), (m, len(b)))], kb - 1, axis=1)[:, kb - 1]
        xa = np.partition(a[rng.integers(0, len(a), (m, len(a)))], ka - 1, axis=1)[:, ka - 1]
        out[s : s + m] = xa - xb
    return out


def weighted_nearest_rank(values: np.ndarray, weights: np.ndarray, pct: float = 90) -> float | None:
    """The smallest value whose cumulative weight reaches ``pct`` percent of the total (the
    nearest-rank rule with weights; equal weights give :func:`nr_rank`)."""
    v, w = np.asarray(values, float), np.asarray(weights, float)
    keep = w > 0
    v, w = v[keep], w[keep]
    if len(v) == 0:
        return None
    order = np.argsort(v, kind="stable")
    v, cw = v[order], np.cumsum(w[order])
    i = int(np.searchsorted(cw, pct / 100 * cw[-1] * (1 - 1e-12), side="left"))
    return float(v[min(i, len(v) - 1)])


@dataclass
class Impact:
    """A before / after comparison of one incident interval. Build with :meth:`from_store`.

    Attributes
    ----------
    before, after : dict
        ``start, end, days, n_calls, calls_per_day, n`` (calls with the interval),
        ``n_missing, p50_s, p90_s, ci_low_s, ci_high_s`` (95% CI of p90), ``target_s,
        compliance, flag``.
    difference : dict
        ``p90_diff_s`` (after - before), ``ci_low_s, ci_high_s`` (bootstrap), ``n_boot, seed,
        mannwhitney_u, mannwhitney_p, volume_change`` (relative change of calls per day),
        ``mix_tvd, p90_after_reweighted_s, p90_diff_reweighted_s``.
    mix : polars.DataFrame
        ``<mix_by>, n_before, share_before, n_after, share_after, change``.
    trend : polars.DataFrame
        ``period_start, n, p50_s, p90_s, compliance, segment`` (before / between / after).
    warnings, notes : list of str
    """

    before: dict[str, Any]
    after: dict[str, Any]
    difference: dict[str, Any]
    mix: pl.DataFrame
    trend: pl.DataFrame
    metric: str
    target_s: float | None
    layer: str | None = None
    zone: str | None = None
    call_category: str | None = None
    mix_by: str = "call_category"
    trend_period: str = "month"
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    # Long: the parameter list, its documentation and one validation block
    @classmethod
    def from_store(
        cls,
        con: Any,
        before: Any,
        after: Any,
        metric: str = "total_response",
        layer: str | None = None,
        zone: str | None = None,
        call_category: str | None = None,
        target_s: float | None = None,
        profile: str | None = "nfpa1710",
        n_boot: int = 2000,
        seed: int | None = 0,
        mix_by: str = "call_category",
        agency: str | None = None,
    ) -> Impact:
        """Compare ``metric`` in the ``before`` and ``after`` periods.

        Parameters
        ----------
        con : DuckDB connection with the catalog views, or a Store
        before, after : ``"YYYY-MM-DD..YYYY-MM-DD"`` or a pair of dates; local, both inclusive
        metric : incident interval (alarm_answering, call_processing, turnout, travel,
            total_response)
        layer, zone : only the incidents in this zone of this layer
        call_category : only these calls
        target_s : compliance target; default the profile's (480 s for total_response when
            the profile has none)
        n_boot, seed : bootstrap resamples and their seed
        mix_by : ``call_category`` or ``call_type``
        agency : str, list of str or None
            Only this agency's calls (several: taken together; ``"all"``: every agency; None:
            the store's only agency, an AgencyError when it holds several).

        Raises
        ------
        AnalysisError
            Every invalid option at once: a bad or reversed period, overlapping periods, an
            unknown metric, layer or zone, a zone without its layer.
        """
        con = connection(con)
        problems: list[str] = []
        b = parse_period(before, "before", problems)
        a = parse_period(after, "after", problems)
        if b and a and b[0] <= a[1] and a[0] <= b[1]:
            lo, hi = max(a[0], b[0]), min(a[1], b[1])
            problems.append(
                f"the periods overlap ({lo}..{hi}): an incident in both would be compared with "
                "itself; choose `before` and `after` periods that do not overlap"
            )
        if metric not in INCIDENT_INTERVALS:
            problems.append(f"`metric` {metric!r} must be one of {', '.join(INCIDENT_INTERVALS)}")
        if mix_by not in ("call_category", "call_type"):
            problems.append(f"`mix_by` {mix_by!r} must be call_category or call_type")
        if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
            problems.append(f"`n_boot` must be a whole number >= 1, got {n_boot!r}")
        check_agency(agency, problems, con)
        _check_zone(con, layer, zone, problems)
        tgt = None
        if metric in INCIDENT_INTERVALS:
            tgt = resolve_target(metric, target_s, profile, call_category, problems)
        if problems:
            raise AnalysisError(problems, "cannot compare the periods")
        con = connection(con, agency)  # every relation below: the agency's rows only
        assert a and b
        scope = _Scope(con, metric, layer, zone, call_category, tgt, mix_by, agency)
        pb, vb = scope.period(*b)
        pa, va = scope.period(*a)
        out = cls(
            before=pb,
            after=pa,
            difference={},
            mix=_mix(vb, va, mix_by),
            trend=scope.trend(b, a),
            metric=metric,
            target_s=tgt,
            layer=layer,
            zone=zone,
            call_category=call_category,
            mix_by=mix_by,
        )
        out.trend_period = scope.trend_period
        out.difference = _difference(pb, pa, vb, va, n_boot, seed, out)
        if a[0] < b[0]:
            out.warnings.append("the `after` period starts before the `before` period")
        return out

    def summary(self) -> pl.DataFrame:
        """The before, after and ``after - before`` rows: the CLI's and the dashboard's table."""
        keys = ["n", "calls_per_day", "p50_s", "p90_s", "ci_low_s", "ci_high_s", "compliance"]
        rows = [
            {"period": f"{name} {p['start']}..{p['end']}", **{k: p[k] for k in keys}}
            for name, p in (("before", self.before), ("after", self.after))
        ]
        d = self.difference  # the p90's difference and its CI; the other columns stay null
        diff = {"p90_s": d["p90_diff_s"], "ci_low_s": d["ci_low_s"], "ci_high_s": d["ci_high_s"]}
        rows.append({"period": "after - before", **diff})
        return pl.DataFrame(rows, schema_overrides={"n": pl.Int64, "p50_s": pl.Float64})

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON-ready values (dates as text)."""

        def plain(d):
            return {k: (str(v) if isinstance(v, dt.date) else v) for k, v in d.items()}

        return {
            "metadata": self.metadata,
            "before": plain(self.before),
            "after": plain(self.after),
            "difference": plain(self.difference),
            "mix": self.mix.to_dicts(),
            "trend": [plain(r) for r in self.trend.to_dicts()],
            "warnings": list(self.warnings),
        }

    @property
    def metadata(self) -> dict[str, Any]:
        """The request and the methods."""
        return {
            "analysis": "impact",
            "metric": self.metric,
            "target_s": self.target_s,
            "layer": self.layer,
            "zone": self.zone,
            "call_category": self.call_category,
            "periods": "local dates, both ends inclusive",
            "percentile": "nearest-rank (library fractile SQL); 95% CI from order statistics",
            "difference_ci": "percentile bootstrap (nearest-rank), seeded",
            "rank_test": "Mann-Whitney U, two-sided (scipy.stats.mannwhitneyu)",
            "mix_by": self.mix_by,
            "mix_rule": (
                f"warn when the mix's total variation distance >= {MIX_TVD_MIN:g} and the "
                "after period reweighted to the before mix moves the p90 difference by at "
                "least half of it"
            ),
            "trend_period": self.trend_period,
            "notes": list(self.notes),
        }


def _check_zone(con, layer, zone, problems: list[str]) -> None:
    if zone is not None and layer is None:
        problems.append(f"`zone` {zone!r} needs `layer` (the zone layer it belongs to)")
        return
    if layer is not None and zone is None:
        problems.append(f"`layer` {layer!r} needs `zone` (one zone of it to compare)")
        return
    if layer is None:
        return
    n = len(problems)
    check_layer(con, layer, "layer", problems)
    if len(problems) > n:
        return
    zones = [
        r[0]
        for r in con.execute(
            "select distinct zone_id from (select zone_id from zones where layer = $l union all "
            "select zone_id from incident_zones where layer = $l) where zone_id is not null "
            "order by 1",
            {"l": layer},
        ).fetchall()
    ]
    if zone not in zones:
        shown = ", ".join(zones[:20]) + (" ..." if len(zones) > 20 else "")
        problems.append(f"`zone` {zone!r} is not a zone of layer {layer!r}; its zones: {shown}")


class _Scope:
    """The incidents of one request, and its per-period figures. Periods select calls by
    their local date of receipt (``call_received_local_at``), so a store holding agencies in
    several time zones needs no conversion."""

    def __init__(self, con, metric, layer, zone, cat, target, mix_by, agency=None):
        self.con, self.metric, self.layer, self.zone = con, metric, layer, zone
        self.agency = agency
        self.cat, self.target, self.mix_by = cat, target, mix_by
        self.trend_period = "month"

    def _params(self, start: dt.date, end: dt.date) -> dict[str, Any]:
        return {
            "start": start,
            "end": end,
            "layer": self.layer,
            "zone": self.zone,
            "call_category": self.cat,
            "agency": self.agency,
        }

    def period(self, start: dt.date, end: dt.date) -> tuple[dict[str, Any], pl.DataFrame]:
        """The period's figures (the library's fractile macros) and its values."""
        p = self._params(start, end)
        row = (
            self.con.execute(
                read_sql("_impact_period"),
                # agency: None, the connection is already scoped to it (see connection())
                {**p, "metric": self.metric, "target_s": self.target, "agency": None},
            )
            .pl()
            .row(0, named=True)
        )
        vals = self.values(p)
        days = (end - start).days + 1
        out = {
            "start": start,
            "end": end,
            "days": days,
            "n_calls": int(row["n_calls"]),
            "calls_per_day": row["n_calls"] / days,
            "n": int(row["n"]),
            "n_missing": int(row["n_missing"]),
            "p50_s": row["p50_s"],
            "p90_s": row["p90_s"],
            "ci_low_s": row["ci_low_s"],
            "ci_high_s": row["ci_high_s"],
            "target_s": self.target,
            "compliance": row["compliance"],
            "flag": row["flag"],
        }
        return out, vals

    def values(self, p: dict[str, Any]) -> pl.DataFrame:
        """``v`` (the interval, null when missing) and ``mix`` of every call in scope."""
        return self.con.execute(
            f"""
            select i.{self.metric}_s as v, coalesce(i.{self.mix_by}, 'other') as mix
            from incidents i
            left join incident_zones z on z.agency = i.agency and z.incident_id = i.incident_id and z.layer = $layer
            where cast(i.call_received_local_at as date) between $start and $end
              and ($layer is null or z.zone_id = $zone)
              and ($call_category is null or i.call_category = $call_category)
              and ($agency is null or i.agency = $agency)
            """,
            p,
        ).pl()

    def trend(self, b: tuple[dt.date, dt.date], a: tuple[dt.date, dt.date]) -> pl.DataFrame:
        """The interval per local day / week / month over the span of both periods."""
        lo, hi = min(a[0], b[0]), max(a[1], b[1])
        span = (hi - lo).days + 1
        self.trend_period = next((p for p, d in _TREND.items() if span <= d), "month")
        filters: dict[str, Any] = {}
        if self.cat is not None:
            filters["call_category"] = self.cat
        grp = ((f"layer:{self.layer}",) if self.layer else ()) + (self.trend_period,)
        t = Fractiles.from_store(
            self.con,
            metric=self.metric,
            by=grp,
            percentiles=(50, 90),
            target_s=self.target,
            profile=None,
            filters=filters,
            percentile=90,
            agency="all",  # already scoped
        ).table
        if self.layer:
            t = t.filter(pl.col("zone_id") == self.zone)
        first = {
            "day": lo,
            "week": lo - dt.timedelta(days=lo.weekday()),
            "month": lo.replace(day=1),
        }[self.trend_period]
        t = t.filter(pl.col("period_start").is_between(first, hi))
        seg = (
            pl.when(pl.col("period_start").is_between(b[0], b[1]))
            .then(pl.lit("before"))
            .when(pl.col("period_start").is_between(a[0], a[1]))
            .then(pl.lit("after"))
            .otherwise(pl.lit("between"))
        )
        cols = ["period_start", "n", "p50_s", "p90_s", "compliance"]
        return t.select(cols).with_columns(seg.alias("segment")).sort("period_start")


def _mix(vb: pl.DataFrame, va: pl.DataFrame, mix_by: str) -> pl.DataFrame:
    def shares(v: pl.DataFrame, tag: str) -> pl.DataFrame:
        m = v.filter(pl.col("v").is_not_null())
        return (
            m.group_by("mix")
            .agg(pl.len().alias(f"n_{tag}"))
            .with_columns((pl.col(f"n_{tag}") / max(m.height, 1)).alias(f"share_{tag}"))
        )

    out = shares(vb, "before").join(shares(va, "after"), on="mix", how="full", coalesce=True)
    return (
        out.with_columns(
            pl.col("n_before", "n_after").fill_null(0).cast(pl.Int64),
            pl.col("share_before", "share_after").fill_null(0.0),
        )
        .with_columns((pl.col("share_after") - pl.col("share_before")).alias("change"))
        .rename({"mix": mix_by})
        .sort(mix_by)
    )


# Long: the difference, its bootstrap and rank test, and the mix rule, in the order documented
def _difference(pb, pa, vb, va, n_boot, seed, out: Impact) -> dict[str, Any]:
    from scipy.stats import mannwhitneyu

    # sorted: the seeded bootstrap then depends on the values only, not on the row order
    xb = np.sort(vb.filter(pl.col("v").is_not_null())["v"].to_numpy())
    xa = va.filter(pl.col("v").is_not_null())["v"].to_numpy()  # aligned with the mix below
    d: dict[str, Any] = {
        "p90_diff_s": None,
        "ci_low_s": None,
        "ci_high_s": None,
        "n_boot": n_boot,
        "seed": seed,
        "mannwhitney_u": None,
        "mannwhitney_p": None,
        "volume_change": (
            pa["calls_per_day"] / pb["calls_per_day"] - 1 if pb["calls_per_day"] else None
        ),
        "mix_tvd": None,
        "p90_after_reweighted_s": None,
        "p90_diff_reweighted_s": None,
    }
    for name, p in (("before", pb), ("after", pa)):
        if p["n"] == 0:
            out.warnings.append(
                f"the {name} period ({p['start']}..{p['end']}) has no call with {out.metric}: "
                "no difference can be measured"
            )
        elif p["n"] < 30:
            out.warnings.append(
                f"the {name} period has only {p['n']} calls with {out.metric}: the figures are "
                "very uncertain (see the CIs)"
            )
    if len(xb) == 0 or len(xa) == 0:
        return d
    d["p90_diff_s"] = pa["p90_s"] - pb["p90_s"]
    boot = bootstrap_p90_diff(xb, np.sort(xa), n_boot, seed)
    lo, hi = np.quantile(boot, [0.025, 0.975], method="inverted_cdf")
    d["ci_low_s"], d["ci_high_s"] = float(lo), float(hi)
    mw = mannwhitneyu(xa, xb, alternative="two-sided")
    d["mannwhitney_u"], d["mannwhitney_p"] = float(mw.statistic), float(mw.pvalue)
    mix = out.mix
    d["mix_tvd"] = float(0.5 * np.abs(mix["change"].to_numpy()).sum())
    sb = dict(zip(mix[out.mix_by], mix["share_before"], strict=True))
    sa = dict(zip(mix[out.mix_by], mix["share_after"], strict=True))
    cats = va.filter(pl.col("v").is_not_null())["mix"].to_list()
    w = np.array([sb.get(c, 0.0) / sa[c] if sa.get(c) else 0.0 for c in cats])
    rew = weighted_nearest_rank(xa, w, 90)
    if rew is not None:
        d["p90_after_reweighted_s"] = rew
        d["p90_diff_reweighted_s"] = rew - pb["p90_s"]
        raw, adj = d["p90_diff_s"], d["p90_diff_reweighted_s"]
        if d["mix_tvd"] >= MIX_TVD_MIN and raw != 0 and abs(raw - adj) >= 0.5 * abs(raw):
            out.warnings.append(
                f"the call mix ({out.mix_by}) shifted by {d['mix_tvd']:.0%} (total variation): "
                f"at the before period's mix the after p90 is {rew:g} s, a difference of "
                f"{adj:+g} s instead of {raw:+g} s, so the mix may explain the difference"
            )
    missing = [c for c, s in sb.items() if s > 0 and not sa.get(c)]
    if missing:
        out.notes.append(
            f"categories with calls before but none after ({', '.join(map(str, missing))}) "
            "cannot be reweighted"
        )
    return d
