"""Modelled coverage: `coverage` and `coverage fit` (the travel model), and the `coverage`
export / map kind. The other planning commands (`gaps`, `whatif`, `site`) are in
:mod:`.planning`; what they share is in :mod:`._planning`."""

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
    import polars as pl

    from ..store import Store

if TYPE_CHECKING:
    from ..analysis.travel_model import TravelModel

__all__ = ["register"]

coverage_app = typer.Typer(
    help="Modelled coverage of the service area: H3 cells, modelled travel from the nearest "
    "station, demand covered within the target. `dispatch coverage fit` learns the travel "
    "model first.\n\nExample:  dispatch coverage fit && dispatch coverage --target-s 240 "
    "--layer sf_neighborhoods",
    invoke_without_command=True,
)


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
    agency: AgencyOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Learn travel time vs distance from the first-arriving units' history, and store it.

    Needs units with home stations (`dispatch units`) and stations. Reports the error on
    held-out calls and the calls excluded, by reason.

    Example:  dispatch coverage fit --priority 3 --network city.graphml
    """
    from ..analysis.travel_model import TravelModel
    from ..store import Store

    f = check_format(fmt_name, ("table", "json"))
    store = Store(data_dir, create=False)
    net = None
    if network is not None:
        from ..analysis.network import RoadNetwork

        net = RoadNetwork.read(network, max_snap_m=max_snap_m)
    with err.status("fitting the travel model"):
        model = TravelModel.from_store(
            store,
            agency=agency_for(store, agency),
            network=net,
            priority=priority,
            call_category=call_category,
            seed=seed,
            test_share=test_share,
            circuity=circuity,
        )
    path = model.save(store.root)
    if f == "json":
        print_json({**model.to_dict(), "path": str(path)})
        return
    _print_fit(model, network, seed, path)


def _print_fit(model: TravelModel, network: Path | None, seed: int, path: Path) -> None:
    """The fitted model for people: calls used and excluded, held-out error, the bands."""
    import polars as pl

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
    title = (
        f"travel = intercept + road distance / speed (network {network}; measured circuity "
        f"{model.circuity:.2f})"
        if model.distance == "network"
        else f"travel = intercept + distance x {model.circuity:g} / speed (assumed circuity)"
    )
    people_table(pl.DataFrame(_band_rows(model)), title=title + "; median fit, p90 alongside")
    out.print(f"saved {path}", highlight=False)


def _band_rows(model: TravelModel) -> list[dict[str, Any]]:
    """One row per time-of-day band: its fit, as speed and travel over 1 km."""
    k_c = 1.0 if model.distance == "network" else model.circuity
    return [
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


# ---------------------------------------------------------------------------------- coverage
def _by_station(cov) -> pl.DataFrame:
    import polars as pl

    busy = (
        cov.stations.select("station_id", "busy_share")
        if "busy_share" in cov.stations.columns
        else None
    )
    df = (
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
    if busy is None:
        return df
    owners = (cov.metadata.get("busy") or {}).get("busy_agency")
    if owners:  # several agencies: each station's share is its own agency's
        busy = busy.with_columns(
            pl.col("station_id")
            .replace_strict(owners, default=None, return_dtype=pl.String)
            .alias("agency")
        )
    return df.join(busy, on="station_id", how="left")


@coverage_app.callback()
def coverage_cmd(
    ctx: typer.Context,
    target_s: TargetOpt = None,
    resolution: ResolutionOpt = 9,
    layer: LayerOpt = None,
    quantile: QuantileOpt = 50,
    busy: BusyOpt = False,
    fmt_name: Annotated[
        str, typer.Option("--format", "-f", help="table, json, or csv (the cells).")
    ] = "table",
    agency: AgencyOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Modelled coverage: demand within the travel target of the nearest station.

    With --busy, also the expected coverage when stations are busy as often as their history
    says (MEXCLP).

    Example:  dispatch coverage --target-s 240 --resolution 9 --layer sf_neighborhoods --busy
    """
    import polars as pl

    from ..store import Store

    if ctx.invoked_subcommand is not None:
        return
    f = check_format(fmt_name, ("table", "json", "csv"))
    store = Store(data_dir, create=False)
    cov = coverage_of(store, target_s, resolution, layer, quantile, busy, agency_for(store, agency))
    if f == "csv":
        print_frame(cov.cells, "csv")
        return
    areas = cov.uncovered_area().drop(columns="geometry")
    if f == "json":
        extra = {"busy_share": cov.metadata["busy"]["busy_share"]} if busy else {}
        print_json(
            {
                **cov.summary,
                **extra,
                "uncovered_areas": areas.to_dict(orient="records"),
                "by_station": _by_station(cov).to_dicts(),
                "metadata": cov.metadata,
            }
        )
        return
    people_table(
        summary_rows({"value": cov.summary}, summary_fields(cov.summary)),
        title=f"modelled coverage at {fmt.duration(cov.target_s)} "
        f"({cov.metadata['service_area']}, H3 res {resolution})",
    )
    top = pl.from_pandas(areas).sort("demand", descending=True).head(10)
    people_table(top, title="largest uncovered areas (by demand)")
    people_table(_by_station(cov), title="by nearest station")
    out.print(f"note: {cov.metadata['covered']}", highlight=False)
    if busy:
        b = cov.metadata["busy"]
        assumed = ", ".join(b["busy_assumed"])
        windows = b.get("windows") or {}
        when = (
            "each agency's units over its own calls ("
            + "; ".join(f"{a} {w[0]} to {w[1]}" for a, w in windows.items())
            + ")"
            if windows
            else f"{b['window'][0]} to {b['window'][1]}"
        )
        out.print(
            f"expected coverage: stations busy {when}"
            + (f", local hours {b['band'][0]:02d}-{b['band'][1]:02d}" if b["band"] else "")
            + (f"; no history for {assumed}: the mean share" if assumed else ""),
            highlight=False,
        )


# ------------------------------------------------------------------ export / map kinds
def _coverage_kind(store: Store, o) -> tuple[Any, Any]:
    from ..analysis.coverage import Coverage

    p = kind_params("coverage", o.params, ("resolution", "quantile", "hour"))
    cov = Coverage.from_store(
        store,
        target_s=240.0 if o.target_s is None else o.target_s,
        resolution=p.get("resolution", 9),
        layer=o.layer,
        quantile=p.get("quantile", 50),
        hour=p.get("hour"),
        agency=o.agency,
    )
    return cov.to_geodataframe(), cov.export_meta()


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


def register(app: typer.Typer) -> None:
    """Add `coverage` (with `coverage fit`) to ``app``, and the `coverage` export / map kind."""
    _register_kinds()
    app.add_typer(coverage_app, name="coverage")
