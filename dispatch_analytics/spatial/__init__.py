"""The spatial layer: zone layers, stations, and the assignment of incidents to zones and cells.

Files under the store root::

    spatial/zones/<layer>.parquet          GeoParquet, EPSG:4326: layer, zone_id, name,
                                           density_class, area_km2, geometry, generation
    spatial/zones/_empty.parquet           zero-row placeholder (so globs always match)
    spatial/stations.parquet               station_id, name, latitude, longitude, geometry
    spatial/incident_zones/<layer>.<generation>.parquet
                                           incident_id, layer, zone_id (null = in no zone);
                                           only the layer file's generation is visible
    spatial/incident_zones/_empty.parquet  zero-row placeholder
    spatial/incident_cells.parquet         incident_id, resolution, h3_cell

Every file is written to a temporary name in its folder and renamed over the target
(``os.replace``), so a reader sees the old file or the new one, never half of one. Writers
serialise on ``spatial/.write.lock`` (separate from the ingest lock); see
:mod:`dispatch_analytics.store.spatial_tables`, which also builds the DuckDB views.

Point-in-zone rule: zones are *closed* sets (a point on a zone's edge is in the zone). A point
in several zones (on a shared edge, or where zones overlap) goes to the first of them in
zone order, i.e. the order of the features in the source file, which is kept on disk.

Modules, in the order they depend on each other:

- :mod:`.validate` field, id and layer-name checks shared by zones and stations;
- :mod:`.geometry` polygon checks and repair, areas, overlaps and gaps;
- :mod:`.index` point in zone (``assign_point_index``, ``assign_points``);
- :mod:`.h3cells` H3 cells of points;
- :mod:`.layers` listing and reading stored layers;
- :mod:`.assign` assigning the store's incidents (``assign_incidents``);
- :mod:`.zones` loading a zone layer (``load_zones``);
- :mod:`.stations` loading station points (``load_stations``).

Reading vector files and reprojecting them is :mod:`dispatch_analytics.io.vector`.
"""

from __future__ import annotations

from ..errors import StationError, ZoneError
from .assign import assign_incidents, outside_incidents
from .index import assign_point_index, assign_points
from .layers import list_layers, read_layer
from .stations import ID_CANDIDATES, NAME_CANDIDATES, StationReport, load_stations, read_stations
from .zones import DENSITY_CLASSES, LAYER_NAME_RE, ZoneReport, load_zones

__all__ = [
    "DENSITY_CLASSES",
    "ID_CANDIDATES",
    "LAYER_NAME_RE",
    "NAME_CANDIDATES",
    "StationError",
    "StationReport",
    "ZoneError",
    "ZoneReport",
    "assign_incidents",
    "assign_point_index",
    "assign_points",
    "list_layers",
    "load_stations",
    "load_zones",
    "outside_incidents",
    "read_layer",
    "read_stations",
]
