"""Planning commands: `gaps`, `coverage` (and `coverage fit`), `whatif`, `site`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.table import Table

import dispatch_analytics.fmt as fmt

from ..store import Store
from .common import DataDir, Format, err, out, print_frame

__all__ = ["register"]

coverage_app = typer.Typer(
    help="Modelled coverage of the service area: H3 cells, modelled travel from the nearest "
    "station, demand covered within the target. `dispatch coverage fit` learns the travel "
    "model first.\n\nExample:  dispatch coverage fit && dispatch coverage --target-s 240 "
    "--layer sf_neighborhoods",
    invoke_without_command=True,
)

TargetOpt = Annotated[
    float | None,
    typer.Option("--target-s", help="Travel target in seconds (default 240, NFPA 1710)."),
]
ResolutionOpt = Annotated[
    int, typer.Option("--resolution", help="H3 resolution of the cells (9: about 0.1 km²).")
]
LayerOpt = Annotated[
    str | None,
    typer.Option(
        "--layer",
        help="Zone layer whose union is the service area (default: the incidents' extent).",
    ),
]
PriorityOpt = Annotated[
    list[str] | None,
    typer.Option("--priority", help="Only calls of this priority (repeatable), e.g. 3."),
]
CategoryOpt = Annotated[
    list[str] | None,
    typer.Option("--call-category", help="Only calls of this category (repeatable): ems, fire."),
]
QuantileOpt = Annotated[
    int, typer.Option("--quantile", help="Modelled travel: 50 (median) or 90 (90th pct).")
]


# ------------------------------------------------------------------------------ output helpers
def _check_format(fmt_name: str, allowed: tuple[str, ...]) -> str:
    f = fmt_name.lower()
    if f not in allowed:
        raise typer.BadParameter(f"`--format` {fmt_name!r} must be {', '.join(allowed)}")
    return f


def _cell(column: str, v: Any) -> str:
    if column in ("latitude", "longitude") and isinstance(v, float):
        return f"{v:.6f}"
    return fmt.value(column, v)


def _people_table(df: pl.DataFrame, title: str | None = None) -> None:
    """A table for people: durations m:ss, shares %, counts with separators."""
    t = Table(title=title, header_style="bold")
    for c, dtype in df.schema.items():
        t.add_column(fmt.label(c), justify="right" if dtype.is_numeric() else "left")
    for row in df.iter_rows(named=True):
        t.add_row(*[_cell(c, v) for c, v in row.items()])
    out.print(t)
    if df.height == 0:
        out.print("(no rows)")


def _summary_rows(summaries: dict[str, dict], fields: tuple[str, ...]) -> pl.DataFrame:
    cols: dict[str, list] = {"measure": list(fields)}
    for name, s in summaries.items():
        cols[name] = [
            fmt.value(f, s.get(f)) if not f.endswith("_km2") else fmt.number(s.get(f))
            for f in fields
        ]
    return pl.DataFrame(cols)


def _json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=1, default=str) + "\n")


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
    data_dir: DataDir = None,
) -> None:
    """Performance gaps per zone: n, 90th percentile with its 95% CI, compliance, status.

    Status: meeting (CI at or under target), at risk (CI straddles it), failing (CI above),
    too few calls. Ranked by calls over target.

    Example:  dispatch gaps --layer sf_neighborhoods --metric travel --target-s 240 --priority 3
    """
    from ..analysis.gaps import Gaps

    f = _check_format(fmt_name, ("table", "csv", "json"))
    store = Store(data_dir, create=False)
    filters: dict[str, list[str]] = {}
    if priority:
        filters["priority"] = priority
    if call_category:
        filters["call_category"] = call_category
    g = Gaps.from_store(
        store,
        layer=layer,
        metric=metric,
        target_s=target_s,
        profile=profile,
        min_n=min_n,
        filters=filters,
    )
    if f == "json":
        _json(
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
    _people_table(
        shown,
        title=f"{g.metric} p{g.percentile:g} vs {fmt.duration(g.target_s)} by zone of "
        f"{g.layer} (ranked by calls over target)",
    )
    counts = ", ".join(f"{v} {k}" for k, v in g.status_counts().items())
    out.print(f"zones: {counts}; calls outside every zone: {g.n_outside:,}", highlight=False)
    for note in g.fractiles.notes:
        out.print(f"note: {note}", highlight=False)


# ------------------------------------------------------------------------------ coverage fit
@coverage_app.command("fit")
def fit_cmd(
    seed: Annotated[int, typer.Option("--seed", help="Seed of the held-out split.")] = 0,
    test_share: Annotated[
        float, typer.Option("--test-share", help="Share of calls held out to measure error.")
    ] = 0.2,
    circuity: Annotated[
        float,
        typer.Option("--circuity", help="Assumed road / straight-line distance (for the speed)."),
    ] = 1.3,
    priority: PriorityOpt = None,
    call_category: CategoryOpt = None,
    network: Annotated[
        Path | None,
        typer.Option(
            "--network",
            help="A road network (GraphML, e.g. saved by OSMnx): distances by road; circuity "
            "is then measured. Never downloads anything.",
        ),
    ] = None,
    max_snap_m: Annotated[
        float,
        typer.Option(
            "--max-snap-m",
            help="A point farther than this from every node is off the network (metres).",
        ),
    ] = 300.0,
    fmt_name: Format = "table",
    data_dir: DataDir = None,
) -> None:
    """Learn travel time vs distance from the first-arriving units' history, and store it.

    Needs units with home stations (`dispatch units`) and stations. Reports the error on
    held-out calls and the calls excluded, by reason.

    Example:  dispatch coverage fit --priority 3 --network city.graphml
    """
    from ..analysis.travel_model import TravelModel

    f = _check_format(fmt_name, ("table", "json"))
    store = Store(data_dir, create=False)
    net = None
    if network is not None:
        from ..analysis.network import RoadNetwork

        net = RoadNetwork.read(network, max_snap_m=max_snap_m)
    with err.status("fitting the travel model"):
        model = TravelModel.from_store(
            store,
            network=net,
            priority=priority,
            call_category=call_category,
            seed=seed,
            test_share=test_share,
            circuity=circuity,
        )
    path = model.save(store.root)
    if f == "json":
        _json({**model.to_dict(), "path": str(path)})
        return
    h = model.holdout
    out.print(
        f"travel model: {model.n_used:,} calls used, excluded "
        + (", ".join(f"{k} {v:,}" for k, v in sorted(model.excluded.items())) or "none"),
        highlight=False,
    )
    if h:
        out.print(
            f"held-out error ({h['n']:,} calls, seed {seed}): median absolute error "
            f"{fmt.duration(h['median_abs_error_s'])} ({fmt.share(h['median_abs_pct_error'])}), "
            f"median bias {h['bias_s']:+.0f} s",
            highlight=False,
        )
    k_c = 1.0 if model.distance == "network" else model.circuity
    rows = [
        {
            "band": k,
            "hours": f"{b.hours[0]:02d}-{b.hours[1]:02d}",
            "n_train": b.n_train,
            "intercept_s": b.intercept_s,
            "speed_kph": (k_c / b.slope_s_per_m * 3.6) if b.slope_s_per_m > 0 else None,
            "travel_1km_s": b.intercept_s + 1000 * b.slope_s_per_m,
            "travel_1km_p90_s": b.intercept_p90_s + 1000 * b.slope_p90_s_per_m,
            "pooled": b.pooled,
        }
        for k, b in model.bands.items()
    ]
    title = (
        f"travel = intercept + road distance / speed (network {network}; measured circuity "
        f"{model.circuity:.2f})"
        if model.distance == "network"
        else f"travel = intercept + distance x {model.circuity:g} / speed (assumed circuity)"
    )
    _people_table(pl.DataFrame(rows), title=title + "; median fit, p90 alongside")
    out.print(f"saved {path}", highlight=False)


# ---------------------------------------------------------------------------------- coverage
def _coverage(store, target_s, resolution, layer, quantile):
    from ..analysis.coverage import Coverage

    return Coverage.from_store(
        store,
        target_s=240.0 if target_s is None else target_s,
        resolution=resolution,
        layer=layer,
        quantile=quantile,
    )


def _by_station(cov) -> pl.DataFrame:
    return (
        cov.cells.group_by("station_id")
        .agg(
            pl.len().alias("cells"),
            pl.col("demand").sum().alias("demand"),
            pl.col("demand").filter(pl.col("covered")).sum().alias("covered_demand"),
            pl.col("travel_s").max().alias("max_travel_s"),
        )
        .with_columns((pl.col("covered_demand") / pl.col("demand")).alias("covered_share"))
        .sort("demand", descending=True)
    )


@coverage_app.callback()
def coverage_cmd(
    ctx: typer.Context,
    target_s: TargetOpt = None,
    resolution: ResolutionOpt = 9,
    layer: LayerOpt = None,
    quantile: QuantileOpt = 50,
    fmt_name: Annotated[
        str, typer.Option("--format", "-f", help="table, json, or csv (the cells).")
    ] = "table",
    data_dir: DataDir = None,
) -> None:
    """Modelled coverage: demand within the travel target of the nearest station.

    Example:  dispatch coverage --target-s 240 --resolution 9 --layer sf_neighborhoods
    """
    if ctx.invoked_subcommand is not None:
        return
    f = _check_format(fmt_name, ("table", "json", "csv"))
    store = Store(data_dir, create=False)
    cov = _coverage(store, target_s, resolution, layer, quantile)
    if f == "csv":
        print_frame(cov.cells, "csv")
        return
    areas = cov.uncovered_area().drop(columns="geometry")
    if f == "json":
        _json(
            {
                **cov.summary,
                "uncovered_areas": areas.to_dict(orient="records"),
                "by_station": _by_station(cov).to_dicts(),
                "metadata": cov.metadata,
            }
        )
        return
    from ..analysis.coverage import SUMMARY_FIELDS

    _people_table(
        _summary_rows({"value": cov.summary}, SUMMARY_FIELDS),
        title=f"modelled coverage at {fmt.duration(cov.target_s)} "
        f"({cov.metadata['service_area']}, H3 res {resolution})",
    )
    top = pl.from_pandas(areas).sort("demand", descending=True).head(10)
    _people_table(top, title="largest uncovered areas (by demand)")
    _people_table(_by_station(cov), title="by nearest station")
    out.print(f"note: {cov.metadata['covered']}", highlight=False)


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
    fmt_name: Format = "table",
    data_dir: DataDir = None,
) -> None:
    """Modelled coverage before and after adding, moving or closing stations.

    Example:  dispatch whatif --add-station -122.39,37.72 --close-station 12 --layer sf_neighborhoods
    """
    from ..analysis.coverage import SUMMARY_FIELDS
    from ..analysis.whatif import WhatIf, parse_lonlat

    f = _check_format(fmt_name, ("table", "csv", "json"))
    adds = [parse_lonlat(p, "--add-station") for p in add_station or []]
    moves = _moves(move_station, list(ctx.args))
    if not (adds or moves or close_station):
        raise typer.BadParameter(
            "give at least one change: --add-station LON,LAT, --move-station ID LON,LAT or "
            "--close-station ID"
        )
    store = Store(data_dir, create=False)
    before = _coverage(store, target_s, resolution, layer, quantile)
    wi = WhatIf.from_coverage(before, add=adds, move=moves, close=close_station or [])
    if f == "json":
        _json({**wi.to_dict(), "metadata": wi.metadata})
        return
    if f == "csv":
        print_frame(wi.changed_cells, "csv")
        return
    rows = _summary_rows({"before": wi.before.summary, "after": wi.after.summary}, SUMMARY_FIELDS)
    delta = [
        ""
        if wi.delta.get(k) is None
        else (f"{wi.delta[k] * 100:+.1f} pts" if k == "covered_share" else fmt.number(wi.delta[k]))
        for k in SUMMARY_FIELDS
    ]
    _people_table(
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
    fmt_name: Format = "table",
    data_dir: DataDir = None,
) -> None:
    """K new station sites that maximise newly covered demand (maximal covering, spopt).

    Existing stations stay fixed.

    Example:  dispatch site --new 2 --target-s 240 --layer sf_neighborhoods
    """
    from ..analysis.siting import Siting

    f = _check_format(fmt_name, ("table", "csv", "json"))
    store = Store(data_dir, create=False)
    cov = _coverage(store, target_s, resolution, layer, quantile)
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
        _json({**s.to_dict(), "metadata": s.metadata})
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
        _people_table(s.sites, title=f"{s.sites.height} new sites at {fmt.duration(cov.target_s)}")
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
        + ("" if s.proven_optimal else "; time limit reached: best found, not proven optimal"),
        highlight=False,
    )


# ------------------------------------------------------------------ export / map kinds
_INT_PARAMS = {"resolution": (5, 12), "quantile": (50, 90), "hour": (0, 23)}


def _kind_params(kind: str, params: dict[str, str], allowed: tuple[str, ...]) -> dict[str, Any]:
    from ..errors import ExportError

    bad = [k for k in params if k not in allowed]
    if bad:
        raise ExportError(
            f"{kind} takes `--param` {', '.join(allowed) or '(none)'}; not {', '.join(bad)}"
        )
    out: dict[str, Any] = {}
    for k, v in params.items():
        if k in ("priority", "call_category"):
            out[k] = [x.strip() for x in v.split(",") if x.strip()]
            continue
        try:
            out[k] = int(v)
        except ValueError:
            raise ExportError(f"`--param` {k}={v!r} must be a whole number") from None
    return out


def _coverage_kind(store: Store, o) -> tuple[Any, Any]:
    from ..analysis.coverage import Coverage

    p = _kind_params("coverage", o.params, ("resolution", "quantile", "hour"))
    cov = Coverage.from_store(
        store,
        target_s=240.0 if o.target_s is None else o.target_s,
        resolution=p.get("resolution", 9),
        layer=o.layer,
        quantile=p.get("quantile", 50),
        hour=p.get("hour"),
    )
    return cov.to_geodataframe(), cov.export_meta()


def _gaps_kind(store: Store, o) -> tuple[Any, Any]:
    from ..analysis.gaps import Gaps

    p = _kind_params("gaps", o.params, ("priority", "call_category"))
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
    )
    return g.to_geodataframe(), g.export_meta()


def _register_kinds() -> None:
    from .export import ExportKind, register_kind

    register_kind(
        ExportKind(
            name="coverage",
            help="Modelled coverage: H3 cells of the service area (the union of --layer, else "
            "the incidents' extent) with demand, the nearest station, its modelled travel "
            "(the travel model's median; -p quantile=90 for the 90th pct) and covered "
            "(travel_s <= --target-s, default 240). -p resolution=N sets the H3 resolution "
            "(default 9), -p hour=H one local hour's travel. Needs `dispatch coverage fit`.",
            example="--layer neighborhoods --target-s 240 -p resolution=9",
            build=_coverage_kind,
            by={"travel": "travel_s", "covered": "coverage_status", "demand": "demand"},
            default_by="travel",
        )
    )
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
    """Add the commands of this module to ``app`` (and the export / map kinds)."""
    _register_kinds()
    app.command("gaps")(gaps_cmd)
    app.add_typer(coverage_app, name="coverage")
    app.command(
        "whatif",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(whatif_cmd)
    app.command("site")(site_cmd)
