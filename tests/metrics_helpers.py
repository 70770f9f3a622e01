"""Fixture builders shared by the metric tests (loaded by path: tests/ is not a package).

* :func:`sample_store` ingests the synthetic sample city and the SFFD slice into a store;
* :func:`add_zone_tables` stands in for the spatial layer (another module): it creates
  ``zones``, ``stations``, ``incident_zones`` and ``incident_cells`` tables on a connection,
  with the sample city's station areas (point in polygon on ``station_areas.geojson``) and the
  SFFD incidents' neighbourhoods (the raw CSV's ``Neighborhood  District`` column);
* :func:`fake_catalog` registers hand-made ``incidents`` / ``responses`` tables (for property
  tests that must not pay for an ingest per example).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import shapely

from dispatch_analytics import Store, ingest, load_profile

HERE = Path(__file__).resolve().parent / "data" / "metrics"
REPO = Path(__file__).resolve().parents[1]
CITY_CSV = REPO / "sample_data" / "city" / "sample_city.csv"
CITY_TOML = REPO / "sample_data" / "city" / "sample_city.toml"
CITY_AREAS = REPO / "sample_data" / "city" / "station_areas.geojson"
CITY_STATIONS = REPO / "sample_data" / "city" / "stations.geojson"
SF_SLICE = REPO / "tests" / "data" / "sffd_slice.csv"
SF_WEEK = REPO / "sample_data" / "sf_week" / "sffd_calls_2016-12-31_2017-01-07.csv"
SMALL_TOML = HERE / "small_city.toml"

#: density class of each sample-city station area (made up for the NFPA 1720 tests)
DENSITY = {
    **{f"S{i:02d}": "urban" for i in range(1, 4)},
    **{f"S{i:02d}": "suburban" for i in range(4, 7)},
    **{f"S{i:02d}": "rural" for i in range(7, 10)},
    **{f"S{i:02d}": "remote" for i in range(10, 13)},
}


def sample_store(root: Path) -> Store:
    """A store holding the sample city and the SFFD slice."""
    ingest(str(CITY_CSV), load_profile(str(CITY_TOML)), data_dir=root)
    ingest(str(SF_SLICE), load_profile("sffd"), data_dir=root)
    return Store(root)


def small_store(root: Path, csv_path: Path) -> Store:
    """A store holding one hand-made export in the small_city.toml layout."""
    ingest(str(csv_path), load_profile(str(SMALL_TOML)), data_dir=root)
    return Store(root)


def replace_table(con: duckdb.DuckDBPyConnection, name: str, select_sql: str) -> None:
    """Create (or replace) table ``name`` as ``select_sql``, dropping a view of that name first
    (the catalog may already hold the spatial views)."""
    kind = con.execute(
        "select table_type from information_schema.tables where table_name = ? "
        "and table_schema = 'main'",
        [name],
    ).fetchone()
    if kind and kind[0] == "VIEW":
        con.execute(f"drop view {name}")
    con.execute(f"create or replace table {name} as {select_sql}")


def _polygons(path: Path, key: str) -> dict[str, shapely.Geometry]:
    gj = json.loads(path.read_text())
    return {f["properties"][key]: shapely.geometry.shape(f["geometry"]) for f in gj["features"]}


def add_zone_tables(con: duckdb.DuckDBPyConnection, sf_csv: Path = SF_SLICE) -> None:
    """Create zones / stations / incident_zones / incident_cells tables on ``con``.

    Layers: ``station_areas`` (sample city; zone_id = station_id; density classes from
    :data:`DENSITY`) and ``neighborhoods`` (SFFD rows of ``sf_csv``: the raw CSV's
    ``Neighborhood  District``; an incident with a blank one is outside every zone).
    """
    areas = _polygons(CITY_AREAS, "station_id")
    inc = con.execute(
        "select agency, incident_id, latitude, longitude from incidents "
        "where timezone = 'America/Chicago'"
    ).pl()
    zone = np.full(inc.height, None, dtype=object)
    lon, lat = inc["longitude"].to_numpy(), inc["latitude"].to_numpy()
    for sid, poly in areas.items():
        hit = shapely.contains_xy(poly, lon, lat)
        zone[hit & (zone == None)] = sid  # noqa: E711
    iz_city = pl.DataFrame(
        {
            "agency": inc["agency"].cast(pl.String),
            "incident_id": inc["incident_id"].cast(pl.String),
            "layer": pl.Series(["station_areas"] * inc.height, dtype=pl.String),
            "zone_id": pl.Series(zone.tolist(), dtype=pl.String),
        }
    )
    iz_sf = sf_neighborhoods(sf_csv)
    iz = pl.concat(
        [
            iz_city,
            iz_sf.with_columns(
                pl.lit("SFFD").alias("agency"), pl.lit("neighborhoods").alias("layer")
            ).select("agency", "incident_id", "layer", "zone_id"),
        ]
    )
    zones = pl.DataFrame(
        {
            "layer": ["station_areas"] * len(areas),
            "agency": pl.Series([None] * len(areas), dtype=pl.String),
            "zone_id": list(areas),
            "name": [f"Station area {k}" for k in areas],
            "density_class": [DENSITY[k] for k in areas],
            "area_km2": [float(p.area) * 111.0 * 96.0 for p in areas.values()],
            "geometry": [p.wkt for p in areas.values()],
        }
    )
    nb = sorted(x for x in iz_sf["zone_id"].unique().to_list() if x)
    zones = pl.concat(
        [
            zones,
            pl.DataFrame(
                {
                    "layer": ["neighborhoods"] * len(nb),
                    "agency": ["SFFD"] * len(nb),
                    "zone_id": nb,
                    "name": nb,
                    "density_class": ["urban"] * len(nb),
                    "area_km2": [None] * len(nb),
                    "geometry": [None] * len(nb),
                },
                schema=zones.schema,
            ),
        ]
    )
    st = json.loads(CITY_STATIONS.read_text())
    stations = pl.DataFrame(
        {
            "agency": ["Sample City FD"] * len(st["features"]),
            "station_id": [f["properties"]["station_id"] for f in st["features"]],
            "name": [f["properties"]["name"] for f in st["features"]],
            "latitude": [f["geometry"]["coordinates"][1] for f in st["features"]],
            "longitude": [f["geometry"]["coordinates"][0] for f in st["features"]],
        }
    )
    cells = pl.DataFrame(
        {
            "agency": inc["agency"],
            "incident_id": inc["incident_id"],
            "resolution": 8,
            "h3_cell": "88000000000ffff",
        }
    )
    for name, df in (
        ("incident_zones", iz),
        ("zones", zones),
        ("stations", stations),
        ("incident_cells", cells),
    ):
        con.register(f"_{name}_df", df)
        replace_table(con, name, f"select * from _{name}_df")
        con.unregister(f"_{name}_df")


def sf_neighborhoods(path: Path) -> pl.DataFrame:
    """incident_id -> zone_id from the raw SFFD CSV's ``Neighborhood  District`` column."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    seen: dict[str, str | None] = {}
    for r in rows:
        nb = r["Neighborhood  District"].strip()
        # the portal writes "None" for a blank neighbourhood (4 rows of the SF week)
        seen.setdefault(r["Incident Number"], nb if nb not in ("", "None") else None)
    return pl.DataFrame(
        {"incident_id": list(seen), "zone_id": list(seen.values())},
        schema={"incident_id": pl.String, "zone_id": pl.String},
    )


#: The agency of fake incidents that name none.
FAKE_AGENCY = "Test FD"

INCIDENT_SCHEMA = {
    "agency": pl.String,
    "incident_id": pl.String,
    "call_type": pl.String,
    "call_category": pl.String,
    "priority": pl.String,
    "station_id": pl.String,
    "zipcode": pl.String,
    "address": pl.String,
    "call_arrived_at": pl.Datetime("us", "UTC"),
    "call_answered_at": pl.Datetime("us", "UTC"),
    "call_received_at": pl.Datetime("us", "UTC"),
    "call_received_local_at": pl.Datetime("us"),
    "call_entered_at": pl.Datetime("us", "UTC"),
    "first_dispatched_at": pl.Datetime("us", "UTC"),
    "first_enroute_at": pl.Datetime("us", "UTC"),
    "first_on_scene_at": pl.Datetime("us", "UTC"),
    "last_cleared_at": pl.Datetime("us", "UTC"),
    "first_arriving_unit": pl.String,
    "fa_dispatched_at": pl.Datetime("us", "UTC"),
    "fa_enroute_at": pl.Datetime("us", "UTC"),
    "latitude": pl.Float64,
    "longitude": pl.Float64,
    "units_assigned": pl.Int64,
    "units_on_scene": pl.Int64,
    "alarm_answering_s": pl.Float64,
    "call_processing_s": pl.Float64,
    "turnout_s": pl.Float64,
    "travel_s": pl.Float64,
    "total_response_s": pl.Float64,
    "timezone": pl.String,
    "grain": pl.String,
    "time_flags": pl.String,
    # excluded stages (per-interval exclusion): why an interval is missing
    "stage_flags": pl.String,
    "fa_stage_flags": pl.String,
}


def fake_catalog(
    con: duckdb.DuckDBPyConnection,
    incidents: pl.DataFrame,
    incident_zones: pl.DataFrame | None = None,
    zones: list[tuple[str, str]] | None = None,
) -> None:
    """Register an ``incidents`` table (missing columns NULL), an empty ``responses``, and
    optionally ``incident_zones`` and ``zones`` (``[(layer, zone_id), ...]``)."""
    if "agency" not in incidents.columns:
        incidents = incidents.with_columns(pl.lit(FAKE_AGENCY).alias("agency"))
    inc = incidents.select(
        (pl.col(c) if c in incidents.columns else pl.lit(None)).cast(t).alias(c)
        for c, t in INCIDENT_SCHEMA.items()
    )
    if "call_received_local_at" not in incidents.columns:  # as ingest stores it
        local = pl.lit(None, pl.Datetime("us"))
        for tz in inc["timezone"].drop_nulls().unique().to_list():
            local = (
                pl.when(pl.col("timezone") == tz)
                .then(
                    pl.col("call_received_at").dt.convert_time_zone(tz).dt.replace_time_zone(None)
                )
                .otherwise(local)
            )
        inc = inc.with_columns(call_received_local_at=local)
    con.register("_inc_df", inc)
    con.execute("create or replace table incidents as select * from _inc_df")
    con.unregister("_inc_df")
    con.execute(
        "create or replace table responses as select null::varchar as agency, "
        "null::varchar as incident_id, null::varchar as unit_id, null::varchar as unit_type, "
        "null::varchar as station_id, null::varchar as source where false"
    )
    if incident_zones is not None:
        if "agency" not in incident_zones.columns:
            incident_zones = incident_zones.select(pl.lit(FAKE_AGENCY).alias("agency"), pl.all())
        con.register("_iz_df", incident_zones)
        replace_table(con, "incident_zones", "select * from _iz_df")
        con.unregister("_iz_df")
    if zones is not None:
        replace_table(
            con,
            "zones",
            "select null::varchar as layer, null::varchar as agency, null::varchar as zone_id, "
            "null::varchar as name, null::varchar as density_class, "
            "null::double as area_km2, null::blob as geometry where false",
        )
        for layer, zone_id in zones:
            con.execute(
                "insert into zones values (?, null, ?, ?, null, null, null)",
                [layer, zone_id, zone_id],
            )


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)
