"""Command groups `zones` and `stations`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .common import (
    AgencyOpt,
    DataDir,
    Format,
    agency_for,
    out,
    print_frame,
    print_warnings,
)

if TYPE_CHECKING:
    pass

__all__ = ["register"]


zones_app = typer.Typer(
    help="Zone layers (demand zones, station areas, ...): load, list, incidents outside.\n\n"
    "Example:  dispatch zones load zones.gpkg --layer demand_zones --id-field ZONE",
    no_args_is_help=True,
)
stations_app = typer.Typer(
    help="Station points, with ids matching the incidents' station_id.\n\n"
    "Example:  dispatch stations load stations.geojson --id-field STATION",
    no_args_is_help=True,
)


@zones_app.command("load")
def zones_load_cmd(
    file: Annotated[
        Path, typer.Argument(help="GeoJSON, GeoPackage, Shapefile, zipped Shapefile or GeoParquet.")
    ],
    layer: Annotated[
        str,
        typer.Option(
            "--layer",
            help="Layer name, snake_case (e.g. demand_zones); replaces a layer of that name.",
        ),
    ],
    id_field: Annotated[str, typer.Option("--id-field", help="Field with each zone's unique id.")],
    name_field: Annotated[
        str | None, typer.Option("--name-field", help="Field with a display name.")
    ] = None,
    density_field: Annotated[
        str | None,
        typer.Option(
            "--density-field",
            help="Field with the NFPA 1720 class: urban, suburban, rural or remote.",
        ),
    ] = None,
    source_layer: Annotated[
        str | None,
        typer.Option(
            "--source-layer", help="Layer of a multi-layer file (GeoPackage) or dataset in a zip."
        ),
    ] = None,
    crs: Annotated[
        str | None,
        typer.Option(
            "--crs",
            help="CRS of the coordinates (e.g. EPSG:2227): needed when the file has none; overrides the file's.",
        ),
    ] = None,
    agency: Annotated[
        str | None,
        typer.Option(
            "--agency",
            help="The agency the zones belong to (default: shared by every agency).",
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Load a zone layer and assign every incident to it.

    Example:  dispatch zones load demand_zones.gpkg --layer demand_zones --id-field ZONE --density-field CLASS
    """
    import warnings

    from ..spatial.zones import load_zones
    from ..store import Store

    store = Store(data_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rep = load_zones(
            store.root,
            file,
            layer,
            id_field=id_field,
            name_field=name_field,
            density_field=density_field,
            source_layer=source_layer,
            agency=agency,
            crs=crs,
        )
    print_warnings(caught)
    out.print(rep.summary(), highlight=False)


@zones_app.command("list")
def zones_list_cmd(data_dir: DataDir = None, fmt: Format = "table") -> None:
    """List the loaded zone layers with zone and incident counts.

    Example:  dispatch zones list
    """
    from ..store import Store

    store = Store(data_dir, create=False)
    df = store.sql(
        """
        select z.layer, coalesce(any_value(z.agency), '(shared)') as agency,
          count(*) as zones, sum(z.area_km2) as area_km2,
          string_agg(distinct z.density_class, ', ' order by z.density_class) as density_classes,
          (select count(*) from incident_zones i
            where i.layer = z.layer and i.zone_id is not null) as incidents_in_zones,
          (select count(*) from incident_zones i
            where i.layer = z.layer and i.zone_id is null) as incidents_outside
        from zones z group by z.layer order by z.layer
        """
    )
    print_frame(df, fmt, title="Zone layers")
    if fmt == "table" and df.height == 0:
        out.print("load one with: dispatch zones load FILE --layer NAME --id-field FIELD")


@zones_app.command("outside")
def zones_outside_cmd(
    layer: Annotated[
        str, typer.Option("--layer", help="A loaded layer (see `dispatch zones list`).")
    ],
    include_unlocated: Annotated[
        bool, typer.Option("--include-unlocated", help="Also list incidents without coordinates.")
    ] = False,
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write them all to this CSV.")
    ] = None,
    fmt: Format = "table",
    agency: AgencyOpt = None,
    data_dir: DataDir = None,
) -> None:
    """List incidents outside every zone of a layer (the agency's incidents).

    Example:  dispatch zones outside --layer demand_zones --agency SFFD --out outside.csv
    """
    from ..metrics.agency_scope import agency_scope
    from ..spatial.zones import outside_incidents
    from ..store import Store

    store = Store(data_dir, create=False)
    con = store.connect(read_only=True)
    try:
        scoped = agency_scope(con, agency_for(con, agency))
        df = outside_incidents(scoped, layer, include_unlocated=include_unlocated)
    finally:
        con.close()
    if out_file is not None:
        df.write_csv(out_file)
        out.print(f"wrote {df.height:,} incidents to {out_file}")
        return
    print_frame(df, fmt, title=f"Incidents outside every zone of {layer!r} ({df.height:,})")


@stations_app.command("load")
def stations_load_cmd(
    file: Annotated[
        Path,
        typer.Argument(
            help="GeoJSON, GeoPackage, Shapefile, GeoParquet, or CSV with latitude/longitude."
        ),
    ],
    id_field: Annotated[
        str | None, typer.Option("--id-field", help="Field with the station id (default: guessed).")
    ] = None,
    name_field: Annotated[
        str | None,
        typer.Option("--name-field", help="Field with a display name (default: guessed)."),
    ] = None,
    id_regex: Annotated[
        str | None,
        typer.Option(
            "--id-regex",
            help="Regex extracting the id from the field (its first group), e.g. '#(\\d+)'.",
        ),
    ] = None,
    zero_pad: Annotated[
        int | None,
        typer.Option("--zero-pad", help="Zero-pad all-digit ids to this width (7 -> 07)."),
    ] = None,
    crs: Annotated[
        str | None, typer.Option("--crs", help="CRS of the coordinates (e.g. EPSG:2227).")
    ] = None,
    agency: Annotated[
        str | None,
        typer.Option(
            "--agency",
            help="The agency the stations belong to (default: shared by every agency).",
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    r"""Load (replace) the station points.

    Example:  dispatch stations load sf_fire_stations.geojson --id-field common_name --id-regex '#(\d+)' --zero-pad 2
    """
    import warnings

    from ..spatial.stations import load_stations
    from ..store import Store

    store = Store(data_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rep = load_stations(
            store.root,
            file,
            id_field=id_field,
            name_field=name_field,
            crs=crs,
            id_regex=id_regex,
            zero_pad=zero_pad,
            agency=agency,
        )
    print_warnings(caught)
    out.print(rep.summary(), highlight=False)


def register(app: typer.Typer) -> None:
    """Add the commands of this module to ``app``."""
    app.add_typer(zones_app, name="zones")
    app.add_typer(stations_app, name="stations")
