"""Modelled coverage: which parts of the service area a station reaches within the target.

The service area (the union of a zone layer's polygons, or the convex hull of the incidents)
is cut into H3 cells (``h3.geo_to_cells``: the cells whose centre is inside). Each cell gets:

* ``demand``: the incidents whose point falls in it (the whole history in the store);
* ``station_id``, ``distance_m``: the nearest station (straight line from the cell centre);
* ``travel_s``: the travel model's median travel from that station (monotone in distance,
  so the nearest station is the fastest); ``--quantile 90`` uses the model's 90th pct;
* ``covered``: ``travel_s <= target_s``.

Summary: the share of demand covered, the covered and uncovered demand, the cells and the
area covered, and the uncovered area as polygons (the dissolved uncovered cells). "Covered"
is modelled *travel* only (en route -> on scene of a unit leaving its home station): no
turnout, no unit being busy elsewhere. :class:`CoverageGrid` (cells and demand) is built once;
:meth:`Coverage.evaluate` recomputes travel for any set of stations in milliseconds, which
is what the what-if and siting analyses do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from ..errors import CoverageError
from ..spatial.distance import nearest
from ._planning import check_agency, check_target, date_range, scoped_connect, store_root
from .busy import BusyShares, add_expected_cover, travel_matrix
from .travel_model import TravelModel

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd

__all__ = ["CoverageGrid", "Coverage", "CELL_COLUMNS", "SUMMARY_FIELDS", "read_station_frame"]

#: Columns of :attr:`Coverage.cells` (and of its GeoDataFrame).
CELL_COLUMNS: dict[str, str] = {
    "h3_cell": "H3 cell id (hex text)",
    "latitude": "cell centre latitude (WGS84)",
    "longitude": "cell centre longitude (WGS84)",
    "area_km2": "cell area, km²",
    "demand": "incidents in the cell",
    "station_id": "nearest station (the modelled first arrival)",
    "distance_m": "distance from that station to the cell centre, metres (straight line, or by "
    "road when the travel model uses a network)",
    "travel_s": "modelled travel from that station, seconds (the model's median unless stated)",
    "covered": "travel_s <= target_s",
    "coverage_status": "'covered' or 'not covered' (the same as covered, as text for maps)",
}
#: Fields of :attr:`Coverage.summary` (the JSON output).
SUMMARY_FIELDS: tuple[str, ...] = (
    "target_s",
    "covered_share",
    "covered_demand",
    "uncovered_demand",
    "total_demand",
    "demand_outside_area",
    "n_cells",
    "covered_cells",
    "area_km2",
    "covered_area_km2",
    "uncovered_area_km2",
    "n_stations",
)
_MAX_CELLS = 400_000


def read_station_frame(root) -> pl.DataFrame:
    """The loaded stations as ``station_id, name, latitude, longitude`` (error when none)."""
    from ..spatial.stations import read_stations

    gdf = read_stations(root)
    if len(gdf) == 0:
        raise CoverageError("no stations are loaded; load them with `dispatch stations load FILE`")
    return pl.DataFrame(
        {
            "station_id": gdf["station_id"].astype(str).tolist(),
            "name": [None if v is None else str(v) for v in gdf["name"].tolist()],
            "latitude": gdf["latitude"].astype(float).tolist(),
            "longitude": gdf["longitude"].astype(float).tolist(),
        },
        schema={
            "station_id": pl.String,
            "name": pl.String,
            "latitude": pl.Float64,
            "longitude": pl.Float64,
        },
    )


def _service_area(root, layer: str | None, lat: np.ndarray, lon: np.ndarray):
    """(shapely geometry, description) of the service area."""
    import shapely

    if layer is not None:
        from ..spatial.layers import read_layer

        zones = read_layer(root, layer)
        if len(zones) == 0:
            raise CoverageError(
                f"layer {layer!r} has no zones; reload it with `dispatch zones load`"
            )
        return shapely.union_all(np.asarray(zones.geometry.values)), f"layer {layer}"
    if len(lat) < 3:
        raise CoverageError(
            "the service area is the incidents' extent, but fewer than 3 incidents have "
            "coordinates; pass `layer` (--layer NAME) or ingest located incidents"
        )
    hull = shapely.convex_hull(shapely.multipoints(np.column_stack([lon, lat])))
    return hull, "convex hull of the incidents"


def _cells_of_area(area, resolution: int) -> list[str]:
    import h3
    import shapely

    parts = shapely.get_parts(area)
    polys = [p for p in parts if p.geom_type in ("Polygon", "MultiPolygon") and not p.is_empty]
    cells: set[str] = set()
    for p in polys:
        cells.update(h3.geo_to_cells(p.__geo_interface__, resolution))
    return sorted(cells)


@dataclass
class CoverageGrid:
    """The H3 cells of a service area and the demand in each. Build with :meth:`from_store`.

    Attributes
    ----------
    cells : polars.DataFrame
        ``h3_cell, latitude, longitude, area_km2, demand``.
    resolution : int
    layer : str or None
        The zone layer whose union is the area (None: the incidents' convex hull).
    area : shapely geometry
    area_source : str
    demand_outside : int
        Located incidents outside every cell (outside the service area).
    metadata : dict
    """

    cells: pl.DataFrame
    resolution: int
    layer: str | None
    area: Any
    area_source: str
    demand_outside: int = 0
    metadata: dict = field(default_factory=dict)

    @classmethod
    def from_store(
        cls, store: Any, resolution: int = 9, layer: str | None = None, agency: str | None = None
    ) -> CoverageGrid:
        """Cells over the service area with the store's incidents counted in them.

        Raises
        ------
        CoverageError
            A bad resolution, an empty layer, an area with no cells at this resolution.
        ZoneError
            The layer is not loaded.
        """
        check_agency(agency)
        if (
            isinstance(resolution, bool)
            or not isinstance(resolution, int)
            or not 5 <= resolution <= 12
        ):
            raise CoverageError(
                f"`resolution` must be an H3 resolution from 5 to 12, got {resolution!r}; "
                "9 (about 0.1 km² cells) suits a city"
            )
        root = store_root(store)
        if layer is not None:
            from ._planning import pick_layer

            layer = pick_layer(root, layer)
        con = scoped_connect(store, agency)
        try:
            pts = con.execute(
                "select latitude, longitude from incidents "
                "where latitude is not null and longitude is not null"
            ).pl()
            dates = date_range(con)
        finally:
            con.close()
        lat = pts["latitude"].to_numpy().astype(float)
        lon = pts["longitude"].to_numpy().astype(float)
        area, source = _service_area(root, layer, lat, lon)
        grid = cls.from_points(area, lat, lon, resolution, source, layer)
        grid.metadata["date_range"] = dates
        return grid

    @classmethod
    def from_points(
        cls, area, lat, lon, resolution: int, source: str = "given", layer: str | None = None
    ) -> CoverageGrid:
        """Cells of ``area`` (a shapely polygon in WGS84) with the points counted in them."""
        import h3

        from ..spatial.h3cells import _h3_cells

        ids = _cells_of_area(area, resolution)
        if not ids:
            raise CoverageError(
                f"the service area ({source}) holds no H3 cell at resolution {resolution}; "
                "use a finer `resolution`"
            )
        if len(ids) > _MAX_CELLS:
            raise CoverageError(
                f"the service area has {len(ids):,} cells at resolution {resolution}; use a "
                f"coarser `resolution` (at most {_MAX_CELLS:,} cells)"
            )
        centres = np.array([h3.cell_to_latlng(c) for c in ids], dtype=float)
        cells = pl.DataFrame(
            {
                "h3_cell": ids,
                "latitude": centres[:, 0],
                "longitude": centres[:, 1],
                "area_km2": [h3.cell_area(c, "km^2") for c in ids],
            }
        )
        lat = np.asarray(lat, dtype=float)
        lon = np.asarray(lon, dtype=float)
        inc = _h3_cells(lat, lon, resolution).drop_nulls()
        counts = inc.value_counts(name="demand").rename({"h3_cell": "h3_cell"})
        cells = cells.join(counts, on="h3_cell", how="left").with_columns(
            pl.col("demand").fill_null(0).cast(pl.Int64)
        )
        outside = int(inc.len() - cells["demand"].sum())
        return cls(cells, resolution, layer, area, source, outside, {})


@dataclass
class Coverage:
    """Modelled coverage of a grid by a set of stations. Build with :meth:`from_store`
    (everything from the store) or :meth:`evaluate` (a grid, stations and a model).

    Attributes
    ----------
    cells : polars.DataFrame
        The columns of :data:`CELL_COLUMNS`.
    stations : polars.DataFrame
        ``station_id, name, latitude, longitude`` of the stations evaluated.
    summary : dict
        :data:`SUMMARY_FIELDS`.
    grid : CoverageGrid
    model : TravelModel
    target_s : float
    quantile, hour :
        Which travel the model gave (median / 90th pct; all hours or one local hour).
    metadata : dict
        Date range, area, model, definitions: what an export must state.
    """

    cells: pl.DataFrame
    stations: pl.DataFrame
    summary: dict
    grid: CoverageGrid
    model: TravelModel
    target_s: float
    quantile: int = 50
    hour: int | None = None
    metadata: dict = field(default_factory=dict)
    network: Any = None
    busy: BusyShares | None = None

    @classmethod
    def from_store(
        cls,
        store: Any,
        target_s: float = 240,
        resolution: int = 9,
        layer: str | None = None,
        model: TravelModel | None = None,
        quantile: int = 50,
        hour: int | None = None,
        agency: str | None = None,
        busy: bool | BusyShares = False,
    ) -> Coverage:
        """Coverage of the store's service area by its loaded stations.

        Parameters
        ----------
        store : Store
        target_s : float
            Travel target, seconds (NFPA 1710 first unit: 240).
        resolution : int
            H3 resolution of the cells (9: about 0.1 km²).
        layer : str, optional
            Zone layer whose union is the service area; default the incidents' convex hull.
        model : TravelModel, optional
            Default: the model saved by ``dispatch coverage fit``.
        quantile : 50 or 90
        hour : int, optional
            A local hour: that band's travel (default all hours).
        agency : str, list of str or None
            Only this agency's calls (several: taken together; ``"all"``: every agency; None:
            the store's only agency, an AgencyError when it holds several).
        busy : bool or BusyShares
            True: expected coverage with each station's busy share measured from the store's
            history (:class:`~dispatch_analytics.analysis.busy.BusyShares`, the band of
            ``hour`` when given); or given shares.

        Raises
        ------
        CoverageError
            Bad arguments, no stations, no saved model...
        """
        target_s = check_target(target_s)
        root = store_root(store)
        model = model if model is not None else TravelModel.load(root)
        grid = CoverageGrid.from_store(store, resolution=resolution, layer=layer, agency=agency)
        network = model.load_network() if model.distance == "network" else None
        shares = None
        if busy is True:
            shares = BusyShares.from_store(store, hour=hour, agency=agency)
        elif isinstance(busy, BusyShares):
            shares = busy
        return cls.evaluate(
            grid, read_station_frame(root), model, target_s, quantile, hour, network, shares
        )

    @classmethod
    def evaluate(
        cls,
        grid: CoverageGrid,
        stations: pl.DataFrame,
        model: TravelModel,
        target_s: float,
        quantile: int = 50,
        hour: int | None = None,
        network: Any = None,
        busy: BusyShares | None = None,
    ) -> Coverage:
        """Travel from the nearest of ``stations`` to every cell of ``grid`` (by road when the
        model was fitted on a network: ``network`` is then that
        :class:`~dispatch_analytics.analysis.network.RoadNetwork`, loaded when not given).
        With ``busy``, also the expected coverage of :mod:`~dispatch_analytics.analysis.busy`
        (``n_covering``, ``expected_covered``; summary ``expected_covered_share``)."""
        target_s = check_target(target_s)
        if stations.height == 0:
            raise CoverageError("no stations to evaluate: at least one station must remain")
        if model.distance == "network" and network is None:
            network = model.load_network()
        lat, lon = grid.cells["latitude"].to_numpy(), grid.cells["longitude"].to_numpy()
        slat, slon = stations["latitude"].to_numpy(), stations["longitude"].to_numpy()
        if network is not None:
            d = network.distance(slat, slon, lat, lon)  # (stations, cells)
            idx = np.argmin(d, axis=0)
            dist = d[idx, np.arange(d.shape[1])]
        else:
            idx, dist = nearest(lat, lon, slat, slon)
        travel = model.predict(dist, hour=hour, quantile=quantile)
        cells = grid.cells.with_columns(
            pl.Series("station_id", stations["station_id"].to_numpy()[idx], dtype=pl.String),
            pl.Series("distance_m", dist),
            pl.Series("travel_s", travel),
            pl.Series("covered", travel <= target_s),
            pl.Series("coverage_status", np.where(travel <= target_s, "covered", "not covered")),
        )
        summary = _summary(cells, grid, target_s, stations.height)
        meta = _metadata(grid, model, target_s, quantile, hour)
        if busy is not None:
            all_travel = travel_matrix(model, network, hour, quantile, lat, lon, slat, slon)
            cells, stations = add_expected_cover(
                cells, stations, all_travel, target_s, busy, summary, meta, CELL_COLUMNS
            )
        return cls(
            cells, stations, summary, grid, model, target_s, quantile, hour, meta, network, busy
        )

    # ------------------------------------------------------------------ outputs
    def to_geodataframe(self) -> gpd.GeoDataFrame:
        """The cells as hexagons (EPSG:4326) with the columns of :data:`CELL_COLUMNS`."""
        import geopandas as gpd
        import h3
        import shapely

        rings = [[(lng, lat) for lat, lng in h3.cell_to_boundary(c)] for c in self.cells["h3_cell"]]
        geoms = shapely.polygons(rings) if rings else []
        return gpd.GeoDataFrame(self.cells.to_pandas(), geometry=list(geoms), crs="EPSG:4326")

    def export_meta(self, kind: str = "coverage"):
        """The :class:`~dispatch_analytics.io.export_meta.ExportMeta` of
        :meth:`to_geodataframe` (what ``dispatch export coverage`` writes)."""
        from ..io.export_meta import ColumnInfo, ExportMeta

        m = self.metadata
        d = m.get("date_range") or {}
        return ExportMeta(
            title=f"Modelled coverage at {self.target_s:g} s travel, H3 resolution "
            f"{self.grid.resolution} ({self.grid.area_source})",
            kind=kind,
            columns=[ColumnInfo(k, v) for k, v in CELL_COLUMNS.items()],
            date_from=d.get("first_local_date"),
            date_to=d.get("last_local_date"),
            details={
                **{k: v for k, v in m.items() if k not in ("columns", "date_range")},
                "summary": dict(self.summary),
                "percentile": float(self.quantile),  # the modelled travel's quantile
            },
            notes=[m["travel"], m["covered"], m["demand"]],
        )

    def uncovered_area(self) -> gpd.GeoDataFrame:
        """The uncovered cells dissolved into polygons, with their demand and area."""
        import geopandas as gpd
        import h3
        import shapely

        un = self.cells.filter(~pl.col("covered"))
        geoms = []
        if un.height:
            shape = h3.cells_to_h3shape(un["h3_cell"].to_list())
            geoms = list(shapely.get_parts(shapely.geometry.shape(shape.__geo_interface__)))
        gdf = gpd.GeoDataFrame(
            {"part": np.arange(1, len(geoms) + 1)}, geometry=geoms, crs="EPSG:4326"
        )
        if len(gdf):
            pts = gpd.GeoSeries(
                gpd.points_from_xy(un["longitude"].to_numpy(), un["latitude"].to_numpy()),
                crs="EPSG:4326",
            )
            part = gdf.sindex.query(pts, predicate="within")
            dem = np.zeros(len(gdf), dtype=np.int64)
            area = np.zeros(len(gdf))
            np.add.at(dem, part[1], un["demand"].to_numpy()[part[0]])
            np.add.at(area, part[1], un["area_km2"].to_numpy()[part[0]])
            gdf["demand"] = dem
            gdf["area_km2"] = area
        else:
            gdf["demand"] = np.zeros(0, dtype=np.int64)
            gdf["area_km2"] = np.zeros(0)
        return gdf


def _summary(cells: pl.DataFrame, grid: CoverageGrid, target_s: float, n_st: int) -> dict:
    cov = cells.filter(pl.col("covered"))
    total = int(cells["demand"].sum())
    covered = int(cov["demand"].sum())
    return {
        "target_s": target_s,
        "covered_share": covered / total if total else None,
        "covered_demand": covered,
        "uncovered_demand": total - covered,
        "total_demand": total,
        "demand_outside_area": grid.demand_outside,
        "n_cells": cells.height,
        "covered_cells": cov.height,
        "area_km2": float(cells["area_km2"].sum()),
        "covered_area_km2": float(cov["area_km2"].sum()),
        "uncovered_area_km2": float(cells["area_km2"].sum()) - float(cov["area_km2"].sum()),
        "n_stations": n_st,
    }


def _metadata(grid: CoverageGrid, model: TravelModel, target_s, quantile, hour) -> dict:
    return {
        "analysis": "modelled coverage",
        "target_s": target_s,
        "h3_resolution": grid.resolution,
        "service_area": grid.area_source,
        "layer": grid.layer,
        "date_range": grid.metadata.get("date_range"),
        "travel": f"the travel model's {'median' if quantile == 50 else '90th percentile'}"
        + (f" at local hour {hour}" if hour is not None else " (all hours)")
        + " from the nearest station ("
        + ("road network distance" if model.distance == "network" else "straight-line distance")
        + ")",
        "covered": "modelled travel_s <= target_s (travel only: no turnout, units assumed "
        "available at their station)",
        "demand": "incidents in the store whose point falls in the cell",
        "model": {
            "distance": model.distance,
            "network": model.network,
            "circuity": model.circuity,
            "speed_kph": model.speed_kph,
            "holdout": {k: v for k, v in model.holdout.items() if k != "by_band"},
            "n_used": model.n_used,
        },
        "columns": CELL_COLUMNS,
    }
