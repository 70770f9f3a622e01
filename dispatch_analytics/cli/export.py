"""Command groups `export` and `map`: analysis layers as GIS files and as static maps, and the
registry of layer kinds they share.

A *kind* is one analysis layer planners take away: ``zones`` (a zone layer with its response
metrics) here; ``coverage``, ``gaps`` and ``hotspots`` are added the same way. Adding one is
one small function and one :func:`register_kind` call::

    def _coverage(store: Store, o: KindOptions) -> tuple[gpd.GeoDataFrame, ExportMeta]:
        cov = Coverage.from_store(store, ..., **o.params)   # the analysis layer computes
        return cov.frame, cov.meta

    register_kind(ExportKind("coverage", help="...", example="...", build=_coverage,
                             by={"covered": "covered_share"}, default_by="covered"))

and both ``dispatch export coverage`` and ``dispatch map coverage`` exist, with the common
options (``--layer --metric --profile --target-s --from --to --min-n``) and ``-p key=value``
for anything else the kind needs. A build function may ``warnings.warn`` what a person should be
told; the commands print those on stderr.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import ExportError
from ..io.export import EXTENSIONS, FORMATS, ExportMeta, check_output, write_export
from .common import AgencyOpt, DataDir, agency_for, out, print_warnings

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd

    from ..store import Store

__all__ = [
    "KINDS",
    "ExportKind",
    "KindOptions",
    "build_layer",
    "register",
    "register_kind",
]


@dataclass
class KindOptions:
    """The options every kind receives (a kind ignores those it does not use).

    Attributes
    ----------
    layer : str or None
        ``--layer``: a loaded zone layer.
    metric : str
        ``--metric``: an interval or a profile entry.
    profile : str or None
        ``--profile``: the standards profile giving targets.
    target_s : float or None
        ``--target-s``: an explicit target.
    date_from, date_to : str or None
        ``--from`` / ``--to``: local dates, inclusive.
    min_n : int
        ``--min-n``: smaller groups are flagged ``small_sample``.
    params : dict
        ``-p key=value`` pairs for kind-specific settings.
    agency : str, list of str or None
        ``--agency``: the agency (resolved: None is every agency together).
    """

    layer: str | None = None
    agency: Any = None
    metric: str = "total_response"
    profile: str | None = "nfpa1710"
    target_s: float | None = None
    date_from: str | None = None
    date_to: str | None = None
    min_n: int = 30
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ExportKind:
    """One exportable, mappable layer kind.

    Attributes
    ----------
    name : str
        The subcommand (``dispatch export <name>``, ``dispatch map <name>``).
    help : str
        One paragraph for ``--help``.
    example : str
        The arguments of an example after ``dispatch export <name>``.
    build : callable
        ``build(store, KindOptions) -> (GeoDataFrame, ExportMeta)``.
    by : dict
        ``--by`` choices of ``dispatch map``: choice -> column.
    default_by : str
        The default ``--by`` choice.
    """

    name: str
    help: str
    example: str
    build: Callable[[Store, KindOptions], tuple[Any, ExportMeta]]
    by: dict[str, str]
    default_by: str


#: The registered kinds, by name.
KINDS: dict[str, ExportKind] = {}

export_app = typer.Typer(
    help="Write an analysis layer (zones with metrics, ...) as GeoPackage, GeoJSON, Shapefile, "
    "GeoParquet, CSV or Excel, with its metadata.\n\n"
    "Example:  dispatch export zones --layer neighborhoods --format gpkg --out zones.gpkg",
    no_args_is_help=True,
)


map_app = typer.Typer(
    help="Draw an analysis layer (zones coloured by p90, compliance or volume, ...) as a PNG, "
    "PDF or self-contained HTML map with stations, legend, north arrow and scale bar.\n\n"
    "Example:  dispatch map zones --layer neighborhoods --by p90 --out p90.png",
    no_args_is_help=True,
)


def register_kind(kind: ExportKind) -> ExportKind:
    """Add (or replace) a kind: ``dispatch export <name>`` and ``dispatch map <name>`` exist
    from then on (call it when your module is imported, or in its ``register(app)``)."""
    KINDS[kind.name] = kind
    export_app.registered_commands = [
        c for c in export_app.registered_commands if c.name != kind.name
    ]
    map_app.registered_commands = [c for c in map_app.registered_commands if c.name != kind.name]
    export_app.command(kind.name)(_export_command(kind))
    map_app.command(kind.name)(_map_command(kind))
    return kind


def parse_params(items: list[str] | None) -> dict[str, str]:
    """``["k=v", ...]`` -> ``{"k": "v"}``; ExportError naming every malformed item."""
    params, bad = {}, []
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            bad.append(f"`--param` {item!r} is not key=value; write e.g. -p resolution=8")
        else:
            params[key.strip()] = value.strip()
    if bad:
        raise ExportError(bad)
    return params


def build_layer(kind_name: str, store: Store, options: KindOptions) -> tuple[Any, ExportMeta, list]:
    """Run a kind's build function; returns its frame, metadata and the warnings it raised."""
    kind = KINDS.get(kind_name)
    if kind is None:
        raise ExportError(
            f"unknown layer kind {kind_name!r}; kinds: {', '.join(sorted(KINDS)) or '(none)'}"
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame, meta = kind.build(store, options)
    return frame, meta, list(caught)


# ================================================================================== options
LayerOpt = Annotated[str | None, typer.Option("--layer", help="A loaded zone layer.")]
MetricOpt = Annotated[
    str,
    typer.Option(
        "--metric",
        help="Interval (total_response, travel, turnout, call_processing, alarm_answering) or "
        "a profile entry (turnout_ems).",
    ),
]
ProfileOpt = Annotated[
    str, typer.Option("--profile", help="Standards profile for targets (nfpa1710, cfai, ...).")
]
TargetOpt = Annotated[
    float | None, typer.Option("--target-s", help="Target in seconds (replaces the profile's).")
]
FromOpt = Annotated[
    str | None, typer.Option("--from", help="First local date, YYYY-MM-DD (inclusive).")
]
ToOpt = Annotated[str | None, typer.Option("--to", help="Last local date, YYYY-MM-DD (inclusive).")]
MinNOpt = Annotated[int, typer.Option("--min-n", help="Flag groups smaller than this.")]
ParamOpt = Annotated[
    list[str] | None, typer.Option("--param", "-p", help="Kind-specific key=value (repeatable).")
]


def options(layer, metric, profile, target_s, date_from, date_to, min_n, param) -> KindOptions:
    """The :class:`KindOptions` of the common command-line options."""
    return KindOptions(
        layer=layer,
        metric=metric,
        profile=profile,
        target_s=target_s,
        date_from=date_from,
        date_to=date_to,
        min_n=min_n,
        params=parse_params(param),
    )


_FORMAT_LIST = ", ".join(f"{f} ({'/'.join(EXTENSIONS[f])})" for f in FORMATS)


def _export_command(kind: ExportKind):
    def cmd(
        out_file: Annotated[
            Path, typer.Option("--out", "-o", help="Output file; its extension must match.")
        ],
        layer: LayerOpt = None,
        metric: MetricOpt = "total_response",
        profile: ProfileOpt = "nfpa1710",
        target_s: TargetOpt = None,
        date_from: FromOpt = None,
        date_to: ToOpt = None,
        min_n: MinNOpt = 30,
        param: ParamOpt = None,
        file_format: Annotated[
            str | None,
            typer.Option(
                "--format", "-f", help=f"{' | '.join(FORMATS)} (default: from the extension)."
            ),
        ] = None,
        crs: Annotated[
            str | None,
            typer.Option("--crs", help="Reproject, e.g. EPSG:2227 (default EPSG:4326)."),
        ] = None,
        agency: AgencyOpt = None,
        data_dir: DataDir = None,
    ) -> None:
        check_output(out_file, file_format, crs)  # before the work: a wrong name fails at once
        from ..store import Store

        store = Store(data_dir, create=False)
        opts = options(layer, metric, profile, target_s, date_from, date_to, min_n, param)
        opts.agency = agency_for(store, agency)
        frame, meta, caught = build_layer(kind.name, store, opts)
        print_warnings(caught)
        _say_agencies(store, meta, opts.agency)
        res = write_export(frame, out_file, format=file_format, meta=meta, crs=crs)
        out.print(
            f"wrote {res.path} ({res.rows:,} {kind.name}, {res.format}, {res.crs or 'no CRS'})",
            highlight=False,
        )
        for p in res.files[1:]:
            out.print(f"  + {p.name}", highlight=False)

    cmd.__doc__ = (
        f"Write the {kind.name} layer as a GIS file. {kind.help}\n\n"
        f"Formats: {_FORMAT_LIST}.\n\n"
        f"Example:  dispatch export {kind.name} {kind.example} --format gpkg "
        f"--out {kind.name}.gpkg"
    )
    return cmd


def _say_agencies(store: Store, meta: ExportMeta, agency) -> None:
    """The export's README names the agencies it covers, with each one's incidents in its
    period (several agencies: the counts; one: its name)."""
    from ..metrics.agencies import agency_counts

    con = store.connect(read_only=True)
    try:
        meta.agencies = agency_counts(con, agency, meta.date_from, meta.date_to)
    finally:
        con.close()


def map_spec(meta: ExportMeta, column: str, title: str | None):
    """Title, subtitle (profile, target, percentile method) and legend of a map of ``meta``."""
    import dispatch_analytics.fmt as fmt  # `from .. import fmt` would import the facade

    from ..io.maps import MapSpec

    d = meta.details
    metric = d.get("metric")
    parts = []
    if meta.profile:
        parts.append(f"profile {meta.profile}")
    if d.get("target_s") is not None:
        parts.append(
            f"target {fmt.duration(d['target_s'])} at the {d.get('percentile', 90):g}th pct"
        )
    elif metric:
        parts.append("no target")
    if d.get("method"):
        parts.append(f"percentiles {d['method']}")
    legend = fmt.label(column)
    if metric and (fmt.is_duration_column(column) or column in ("compliance", "mean_s")):
        legend = f"{legend}, {fmt.label(metric + '_s')}"
    elif column == "n":
        legend = "incidents"
    dates = (
        f"{meta.date_from} to {meta.date_to}"
        if meta.date_from and meta.date_to and meta.date_from != meta.date_to
        else meta.date_from or meta.date_to
    )
    return MapSpec(
        title=title or meta.title,
        subtitle=" · ".join(parts) or None,
        date_range=dates,
        legend=legend,
        id_column="name" if any(c.name == "name" for c in meta.columns) else None,
    )


def _by_column(kind: ExportKind, by: str | None, frame) -> str:
    by = by or kind.default_by
    if by in kind.by:
        return kind.by[by]
    if by in frame.columns and by != frame.geometry.name:
        return by
    raise ExportError(
        f"`--by` {by!r} is not a choice for {kind.name}; choose one of "
        f"{', '.join(kind.by)} (or a column name)"
    )


def _map_command(kind: ExportKind):
    def cmd(
        out_file: Annotated[
            Path, typer.Option("--out", "-o", help="FILE.png, FILE.pdf or FILE.html.")
        ],
        layer: LayerOpt = None,
        metric: MetricOpt = "total_response",
        profile: ProfileOpt = "nfpa1710",
        target_s: TargetOpt = None,
        date_from: FromOpt = None,
        date_to: ToOpt = None,
        min_n: MinNOpt = 30,
        param: ParamOpt = None,
        by: str | None = None,  # annotated below: its help lists the kind's choices
        title: Annotated[str | None, typer.Option("--title", help="Map title.")] = None,
        stations: Annotated[
            bool, typer.Option("--stations/--no-stations", help="Draw the loaded stations.")
        ] = True,
        dpi: Annotated[int, typer.Option("--dpi", help="PNG resolution.")] = 150,
        agency: AgencyOpt = None,
        data_dir: DataDir = None,
    ) -> None:
        from ..io.maps import PointLayer, check_map_output, render_map
        from ..spatial import read_stations

        check_map_output(out_file)  # before the work: a wrong name fails at once
        from ..store import Store

        store = Store(data_dir, create=False)
        opts = options(layer, metric, profile, target_s, date_from, date_to, min_n, param)
        opts.agency = agency_for(store, agency)
        frame, meta, caught = build_layer(kind.name, store, opts)
        print_warnings(caught)
        column = _by_column(kind, by, frame)
        spec = map_spec(meta, column, title)
        if stations:
            pts = read_stations(store.root)
            if len(pts):
                spec.points.append(PointLayer(pts, "station_id", "stations"))
        render_map(frame, column, out_file, spec, dpi=dpi)
        out.print(f"wrote {out_file} ({kind.name} by {column})", highlight=False)

    cmd.__annotations__["by"] = Annotated[
        str | None,
        typer.Option("--by", help=f"Colour by: {', '.join(kind.by)} (default {kind.default_by})."),
    ]
    cmd.__doc__ = (
        f"Draw the {kind.name} layer as a map (PNG, PDF or offline HTML). {kind.help}\n\n"
        f"Example:  dispatch map {kind.name} {kind.example} --by {kind.default_by} "
        f"--out {kind.name}.png"
    )
    return cmd


def register(app: typer.Typer) -> None:
    """Add the ``export`` and ``map`` groups (one subcommand per registered kind)."""
    app.add_typer(export_app, name="export")
    app.add_typer(map_app, name="map")


# ===================================================================================== zones
def _zones(store: Store, o: KindOptions) -> tuple[gpd.GeoDataFrame, ExportMeta]:
    from ..analysis.zone_metrics import ZoneMetrics

    if not o.layer:
        from ..spatial import list_layers

        loaded = list_layers(store.root)
        raise ExportError(
            f"`--layer` is required for zones; loaded layers: {', '.join(loaded) or '(none)'}"
        )
    if o.params:
        raise ExportError(f"zones takes no `--param`; got {', '.join(o.params)}")
    zm = ZoneMetrics.from_store(
        store,
        layer=o.layer,
        metric=o.metric,
        profile=o.profile,
        target_s=o.target_s,
        date_from=o.date_from,
        date_to=o.date_to,
        min_n=o.min_n,
        agency=o.agency,
    )
    for w in zm.warnings:
        warnings.warn(w, stacklevel=2)
    return zm.frame, zm.meta


register_kind(
    ExportKind(
        name="zones",
        help="A zone layer with, per zone, n, p50 / p90 / p95, the 95% CI of the profile's "
        "percentile, compliance with the target and a status (met, not_met, no_target, "
        "no_data), computed by Fractiles (nearest-rank).",
        example="--layer neighborhoods --metric travel --from 2017-01-01 --to 2017-01-07",
        build=_zones,
        by={
            "p50": "p50_s",
            "p90": "p90_s",
            "p95": "p95_s",
            "mean": "mean_s",
            "compliance": "compliance",
            "n": "n",
            "status": "status",
        },
        default_by="p90",
    )
)
