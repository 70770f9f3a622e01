"""Planning commands beside `coverage` (:mod:`.coverage`): `gaps` (measured performance per
zone, and its export / map kind), `whatif` (stations added, moved or closed) and `site` (new
station sites)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

import dispatch_analytics.fmt as fmt

from ._planning import (
    BusyOpt,
    CategoryOpt,
    LayerOpt,
    PriorityOpt,
    QuantileOpt,
    ResolutionOpt,
    TargetOpt,
    coverage_of,
    kind_params,
    people_table,
    print_json,
    summary_fields,
    summary_rows,
)
from .common import AgencyOpt, DataDir, Format, agency_for, check_format, err, out, print_frame

if TYPE_CHECKING:
    from ..store import Store

__all__ = ["register"]


# ---------------------------------------------------------------------------------- gaps
def gaps_cmd(
    layer: Annotated[
        str | None, typer.Option("--layer", help="Zone layer (default: the only one loaded).")
    ] = None,
    metric: Annotated[
        str, typer.Option("--metric", help="Incident interval: travel, total_response, ...")
    ] = "travel",
    target_s: Annotated[
        float | None,
        typer.Option("--target-s", help="Target in seconds (default: the profile's)."),
    ] = None,
    profile: Annotated[
        str, typer.Option("--profile", help="Standards profile for the default target.")
    ] = "nfpa1710",
    min_n: Annotated[
        int, typer.Option("--min-n", help="Zones with fewer calls are 'too few calls'.")
    ] = 30,
    priority: PriorityOpt = None,
    call_category: CategoryOpt = None,
    fmt_name: Format = "table",
    agency: AgencyOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Performance gaps per zone: n, 90th percentile with its 95% CI, compliance, status.

    Status: meeting (CI at or under target), at risk (CI straddles it), failing (CI above),
    too few calls. Ranked by calls over target.

    Example:  dispatch gaps --layer sf_neighborhoods --metric travel --target-s 240 --priority 3
    """
    from ..analysis.gaps import Gaps
    from ..store import Store

    f = check_format(fmt_name, ("table", "csv", "json"))
    store = Store(data_dir, create=False)
    filters: dict[str, list[str]] = {}
    if priority:
        filters["priority"] = priority
    if call_category:
        filters["call_category"] = call_category
    g = Gaps.from_store(
        store,
        agency=agency_for(store, agency),
        layer=layer,
        metric=metric,
        target_s=target_s,
        profile=profile,
        min_n=min_n,
        filters=filters,
    )
    if f == "json":
        print_json(
            {
                "layer": g.layer,
                "metric": g.metric,
                "target_s": g.target_s,
                "percentile": g.percentile,
                "status_counts": g.status_counts(),
                "n_outside_layer": g.n_outside,
                "zones": g.table.to_dicts(),
                "metadata": g.metadata,
            }
        )
        return
    if f == "csv":
        print_frame(g.table, "csv")
        return
    shown = g.table.drop("percentile", "target_s")
    if shown["name"].null_count() == shown.height:
        shown = shown.drop("name")
    people_table(
        shown,
        title=f"{g.metric} p{g.percentile:g} vs {fmt.duration(g.target_s)} by zone of "
        f"{g.layer} (ranked by calls over target)",
    )
    counts = ", ".join(f"{v} {k}" for k, v in g.status_counts().items())
    out.print(f"zones: {counts}; calls outside every zone: {g.n_outside:,}", highlight=False)
    for note in g.fractiles.notes:
        out.print(f"note: {note}", highlight=False)


# ---------------------------------------------------------------------------------- whatif
def _moves(ids: list[str] | None, extra: list[str]) -> dict[str, tuple[float, float]]:
    """``--move-station ID LON,LAT``: click gives the IDs; the LON,LAT after each arrive, in
    order, as extra arguments (typer has no two-value repeatable option)."""
    from ..analysis.whatif import parse_lonlat

    ids = list(ids or [])
    if len(extra) != len(ids):
        unexpected = extra[len(ids) :] if len(extra) > len(ids) else []
        raise typer.BadParameter(
            "`--move-station` takes ID LON,LAT (e.g. --move-station 05 -122.43,37.76)"
            + (f"; unexpected argument(s): {' '.join(unexpected)}" if unexpected else "")
        )
    return {
        sid: parse_lonlat(p, f"--move-station {sid}") for sid, p in zip(ids, extra, strict=True)
    }


def whatif_cmd(
    ctx: typer.Context,
    add_station: Annotated[
        list[str] | None,
        typer.Option("--add-station", help="A new station at LON,LAT (repeatable)."),
    ] = None,
    move_station: Annotated[
        list[str] | None,
        typer.Option(
            "--move-station", metavar="ID LON,LAT", help="Move station ID to LON,LAT (repeatable)."
        ),
    ] = None,
    close_station: Annotated[
        list[str] | None, typer.Option("--close-station", help="Close station ID (repeatable).")
    ] = None,
    target_s: TargetOpt = None,
    resolution: ResolutionOpt = 9,
    layer: LayerOpt = None,
    quantile: QuantileOpt = 50,
    busy: BusyOpt = False,
    fmt_name: Format = "table",
    agency: AgencyOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Modelled coverage before and after adding, moving or closing stations (with --busy,
    expected coverage too: a new station takes the mean busy share).

    Example:  dispatch whatif --add-station -122.39,37.72 --close-station 12 --layer sf_neighborhoods
    """
    import polars as pl

    from ..analysis.whatif import WhatIf, parse_lonlat
    from ..store import Store

    f = check_format(fmt_name, ("table", "csv", "json"))
    adds = [parse_lonlat(p, "--add-station") for p in add_station or []]
    moves = _moves(move_station, list(ctx.args))
    if not (adds or moves or close_station):
        raise typer.BadParameter(
            "give at least one change: --add-station LON,LAT, --move-station ID LON,LAT or "
            "--close-station ID"
        )
    store = Store(data_dir, create=False)
    before = coverage_of(
        store, target_s, resolution, layer, quantile, busy, agency_for(store, agency)
    )
    wi = WhatIf.from_coverage(before, add=adds, move=moves, close=close_station or [])
    if f == "json":
        print_json({**wi.to_dict(), "metadata": wi.metadata})
        return
    if f == "csv":
        print_frame(wi.changed_cells, "csv")
        return
    fields = summary_fields(wi.before.summary)
    rows = summary_rows({"before": wi.before.summary, "after": wi.after.summary}, fields)
    delta = [
        ""
        if wi.delta.get(k) is None
        else (f"{wi.delta[k] * 100:+.1f} pts" if k.endswith("_share") else fmt.number(wi.delta[k]))
        for k in fields
    ]
    people_table(
        rows.with_columns(pl.Series("change", delta)),
        title=f"what-if at {fmt.duration(before.target_s)}",
    )
    out.print(f"{wi.changed_cells.height:,} cells changed", highlight=False)


# ---------------------------------------------------------------------------------- site
def site_cmd(
    new: Annotated[int, typer.Option("--new", help="How many new sites to choose.")],
    candidates: Annotated[
        str, typer.Option("--candidates", help="'cells' (every cell centre) or a point file.")
    ] = "cells",
    time_limit_s: Annotated[
        float, typer.Option("--time-limit-s", help="Solver time limit, seconds.")
    ] = 60.0,
    max_candidates: Annotated[
        int, typer.Option("--max-candidates", help="Keep at most this many candidate sites.")
    ] = 400,
    target_s: TargetOpt = None,
    resolution: ResolutionOpt = 9,
    layer: LayerOpt = None,
    quantile: QuantileOpt = 50,
    busy: BusyOpt = False,
    fmt_name: Format = "table",
    agency: AgencyOpt = None,
    data_dir: DataDir = None,
) -> None:
    """K new station sites that maximise newly covered demand (maximal covering, spopt).

    Existing stations stay fixed. With --busy, the expected coverage before and after is
    reported too (the sites are still chosen by plain coverage).

    Example:  dispatch site --new 2 --target-s 240 --layer sf_neighborhoods
    """
    from ..analysis.siting import Siting
    from ..store import Store

    f = check_format(fmt_name, ("table", "csv", "json"))
    store = Store(data_dir, create=False)
    cov = coverage_of(store, target_s, resolution, layer, quantile, busy, agency_for(store, agency))
    if candidates != "cells" and not Path(candidates).exists():
        from ..errors import CoverageError

        raise CoverageError(
            f"`--candidates` {candidates!r} is neither 'cells' nor an existing point file"
        )
    with err.status(f"choosing {new} site(s): spopt MCLP + CBC (time limit {time_limit_s:g} s)"):
        s = Siting.from_coverage(
            cov,
            new,
            candidates=candidates,
            time_limit_s=time_limit_s,
            max_candidates=max_candidates,
        )
    if f == "json":
        print_json({**s.to_dict(), "metadata": s.metadata})
        return
    if f == "csv":
        print_frame(s.sites, "csv")
        return
    if s.sites.height == 0:
        out.print(
            f"no candidate site reaches uncovered demand within {fmt.duration(cov.target_s)} "
            "(modelled travel from a site to the demand exceeds the target); nothing to add",
            highlight=False,
        )
    else:
        people_table(s.sites, title=f"{s.sites.height} new sites at {fmt.duration(cov.target_s)}")
    b, a = s.whatif.before.summary, s.whatif.after.summary
    out.print(
        f"covered demand {b['covered_demand']:,} -> {a['covered_demand']:,} of "
        f"{b['total_demand']:,} ({fmt.share(b['covered_share'])} -> "
        f"{fmt.share(a['covered_share'])}); candidates {s.n_candidates:,}"
        + (
            f" ({s.candidates_dropped:,} with the least reach dropped)"
            if s.candidates_dropped
            else ""
        )
        + ("" if s.proven_optimal else "; time limit reached: best found, not proven optimal")
        + (
            f"; expected (busy) {fmt.share(b['expected_covered_share'])} -> "
            f"{fmt.share(a['expected_covered_share'])}"
            if "expected_covered_share" in b
            else ""
        ),
        highlight=False,
    )


# ------------------------------------------------------------------ export / map kind
def _gaps_kind(store: Store, o) -> tuple[Any, Any]:
    from ..analysis.gaps import Gaps

    p = kind_params("gaps", o.params, ("priority", "call_category"))
    g = Gaps.from_store(
        store,
        layer=o.layer,
        metric=o.metric,
        target_s=o.target_s,
        profile=o.profile,
        min_n=o.min_n,
        date_from=o.date_from,
        date_to=o.date_to,
        filters=p,
        agency=o.agency,
    )
    return g.to_geodataframe(), g.export_meta()


def _register_kinds() -> None:
    from .export import ExportKind, register_kind

    register_kind(
        ExportKind(
            name="gaps",
            help="Performance gaps per zone of --layer: n, the percentile with its 95% "
            "order-statistic CI, compliance with the target, calls over target and a status "
            "(meeting, at risk, failing, too few calls), ranked by calls over target. "
            "-p priority=3 / -p call_category=ems,fire keep only those calls.",
            example="--layer neighborhoods --metric travel --target-s 240 -p priority=3",
            build=_gaps_kind,
            by={
                "status": "status",
                "p90": "p_value_s",
                "compliance": "compliance",
                "over": "n_over_target",
                "n": "n",
            },
            default_by="status",
        )
    )


def register(app: typer.Typer) -> None:
    """Add `gaps`, `whatif` and `site` to ``app``, and the `gaps` export / map kind."""
    _register_kinds()
    app.command("gaps")(gaps_cmd)
    app.command(
        "whatif",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(whatif_cmd)
    app.command("site")(site_cmd)
