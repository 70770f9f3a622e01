"""A road network the user provides (GraphML), for network travel distances.

``RoadNetwork.read("city.graphml")`` reads the graph with igraph (nothing is downloaded).
Nodes need coordinates: attributes ``x`` / ``y`` (longitude / latitude, as OSMnx writes
them) or ``lon`` / ``lat`` (``longitude`` / ``latitude``), WGS84 degrees. Edges may carry a
``length`` in metres (OSMnx does); without one it is the straight line between the two ends.
A directed graph is routed along its edge directions (one-way streets), from the station out.

Points (stations, incidents, cell centres) are snapped to their nearest node (shapely's
STRtree on coordinates scaled to local metres); the distance of a point is then the snap
from the start, the shortest path (igraph, Dijkstra on ``length``), and the snap to the end.
A point farther than ``max_snap_m`` (default 300 m) from every node is off the network:
incidents off the network are not used to fit the model, and a network that leaves more
than 10% of them off is refused with a message naming the share and the fix.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ..errors import CoverageError
from ..spatial.distance import haversine_m

__all__ = ["RoadNetwork", "MAX_SNAP_M", "file_sha256", "network_distances"]

#: A point farther than this from every node is off the network.
MAX_SNAP_M = 300.0
_LON_NAMES = ("x", "lon", "longitude", "lng")
_LAT_NAMES = ("y", "lat", "latitude")


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file (to tell whether a network changed since a model was fitted)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _floats(values: list[Any]) -> np.ndarray:
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            pass
    return out


def _coords(g, path) -> tuple[np.ndarray, np.ndarray]:
    names = {a.lower(): a for a in g.vs.attributes()}
    lon_key = next((names[n] for n in _LON_NAMES if n in names), None)
    lat_key = next((names[n] for n in _LAT_NAMES if n in names), None)
    if lon_key is None or lat_key is None:
        raise CoverageError(
            f"`--network` {path}: its nodes have no coordinates (attributes x / y, or lon / "
            f"lat, in WGS84 degrees); its node attributes: "
            f"{', '.join(g.vs.attributes()) or '(none)'}; save it with OSMnx "
            "(`osmnx.save_graphml`) or add them"
        )
    lon, lat = _floats(g.vs[lon_key]), _floats(g.vs[lat_key])
    bad = ~(np.isfinite(lon) & np.isfinite(lat) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180))
    if bad.any():
        raise CoverageError(
            f"`--network` {path}: {int(bad.sum())} node(s) have no usable WGS84 coordinates "
            f"(e.g. node {int(np.flatnonzero(bad)[0])}); the network must be in longitude / "
            "latitude degrees"
        )
    return lat, lon


@dataclass
class RoadNetwork:
    """A road graph with node coordinates and edge lengths. Build with :meth:`read`.

    Attributes
    ----------
    graph : igraph.Graph
        ``length`` (metres) on every edge.
    lat, lon : numpy.ndarray
        Node coordinates (degrees).
    path : str
    sha256 : str
    max_snap_m : float
    """

    graph: Any
    lat: np.ndarray
    lon: np.ndarray
    path: str
    sha256: str
    max_snap_m: float = MAX_SNAP_M
    _tree: Any = field(default=None, repr=False)
    _rows: dict = field(default_factory=dict, repr=False)

    @classmethod
    def read(cls, path: str | os.PathLike, max_snap_m: float = MAX_SNAP_M) -> RoadNetwork:
        """Read a GraphML road network.

        Raises
        ------
        CoverageError
            Not a file, not GraphML (OSM XML / PBF are not read: convert them with OSMnx),
            no nodes or edges, no coordinates, negative lengths.
        """
        import igraph as ig

        p = Path(path)
        if not p.is_file():
            raise CoverageError(f"`--network` {path}: no such file")
        if p.suffix.lower() in (".osm", ".pbf", ".xml") and p.suffix.lower() != ".graphml":
            raise CoverageError(
                f"`--network` {path}: only GraphML is read (OSM XML / PBF are not); convert "
                "it with OSMnx (`osmnx.graph_from_xml` then `osmnx.save_graphml`)"
            )
        try:
            g = ig.Graph.Read_GraphML(str(p))
        except Exception as exc:
            raise CoverageError(
                f"`--network` {path} is not a readable GraphML file ({exc}); save the network "
                "as GraphML (e.g. `osmnx.save_graphml`)"
            ) from None
        if g.vcount() < 2 or g.ecount() < 1:
            raise CoverageError(
                f"`--network` {path} has no roads ({g.vcount()} nodes, {g.ecount()} edges)"
            )
        lat, lon = _coords(g, path)
        ends = np.array(g.get_edgelist(), dtype=np.int64)
        straight = haversine_m(lat[ends[:, 0]], lon[ends[:, 0]], lat[ends[:, 1]], lon[ends[:, 1]])
        length = (
            _floats(g.es["length"]) if "length" in g.es.attributes() else np.full(len(ends), np.nan)
        )
        length = np.where(np.isfinite(length), length, straight)
        if (length < 0).any():
            raise CoverageError(f"`--network` {path}: negative edge lengths; fix the `length`s")
        g.es["length"] = length.tolist()
        return cls(g, lat, lon, str(p), file_sha256(p), float(max_snap_m))

    # ------------------------------------------------------------------ snapping
    def _scale(self) -> float:
        return math.cos(math.radians(float(np.nanmean(self.lat))))

    def snap(self, lat, lon) -> tuple[np.ndarray, np.ndarray]:
        """(nearest node, distance to it in metres) of each point."""
        import shapely

        k = self._scale()
        if self._tree is None:
            self._tree = shapely.STRtree(shapely.points(self.lon * k, self.lat))
        lat = np.asarray(lat, dtype=float)
        lon = np.asarray(lon, dtype=float)
        if not len(lat):
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        idx = self._tree.query_nearest(shapely.points(lon * k, lat), all_matches=False)[1]
        node = np.asarray(idx, dtype=np.int64)
        return node, haversine_m(lat, lon, self.lat[node], self.lon[node])

    def check_covers(self, lat, lon, what: str, max_share: float = 0.10) -> np.ndarray:
        """The points on the network (a boolean mask); CoverageError when more than
        ``max_share`` of them are off it."""
        _, snap = self.snap(lat, lon)
        on = snap <= self.max_snap_m
        if len(on) and (~on).mean() > max_share:
            raise CoverageError(
                f"the network {self.path} does not cover the {what}: {int((~on).sum()):,} of "
                f"{len(on):,} ({(~on).mean():.0%}) are more than {self.max_snap_m:g} m from any "
                f"node (network extent lon {self.lon.min():.4f}..{self.lon.max():.4f}, lat "
                f"{self.lat.min():.4f}..{self.lat.max():.4f}); give a network covering the "
                "service area"
            )
        return on

    # ------------------------------------------------------------------ distances
    def from_points(self, lat, lon) -> np.ndarray:
        """Network distance (metres) from each point to every node: ``(len(points), nodes)``,
        including the snap from the point to its node; inf where unreachable."""
        node, snap = self.snap(lat, lon)
        out = np.empty((len(node), len(self.lat)))
        todo = [i for i, n in enumerate(node) if int(n) not in self._rows]
        if todo:
            srcs = sorted({int(node[i]) for i in todo})
            rows = np.asarray(self.graph.distances(source=srcs, weights="length", mode="out"))
            for s, r in zip(srcs, rows, strict=True):
                if len(self._rows) > 4096:
                    self._rows.clear()
                self._rows[s] = r
        for i, n in enumerate(node):
            out[i] = self._rows[int(n)] + snap[i]
        return out

    def distance(self, from_lat, from_lon, to_lat, to_lon) -> np.ndarray:
        """Network distances ``(len(from), len(to))`` in metres (snaps at both ends)."""
        tnode, tsnap = self.snap(to_lat, to_lon)
        return self.from_points(from_lat, from_lon)[:, tnode] + tsnap[None, :]


def network_distances(obs: pl.DataFrame, net) -> tuple[pl.DataFrame, float]:
    """The travel observations with ``distance_m`` by road (home station -> incident) and the
    measured circuity (median road / straight-line distance over calls at least 300 m apart).

    Rows off the network get the reason ``off_network``; CoverageError when more than 10% of
    the incidents, or any home station, are off it."""
    usable = obs["reason"].is_null() & obs["distance_m"].is_not_null()
    sub = obs.filter(usable)
    lat, lon = sub["latitude"].to_numpy(), sub["longitude"].to_numpy()
    on = net.check_covers(lat, lon, "incidents")
    st = sub.select("station_latitude", "station_longitude").unique(maintain_order=True)
    key = {r: i for i, r in enumerate(st.iter_rows())}
    rows = np.array(
        [key[r] for r in sub.select("station_latitude", "station_longitude").iter_rows()], dtype=int
    )
    net.check_covers(
        st["station_latitude"].to_numpy(),
        st["station_longitude"].to_numpy(),
        "stations",
        max_share=0.0,
    )
    from_st = net.from_points(st["station_latitude"].to_numpy(), st["station_longitude"].to_numpy())
    node, snap = net.snap(lat, lon)
    road = from_st[rows, node] + snap
    ok = on & np.isfinite(road)
    straight = sub["distance_m"].to_numpy()
    far = ok & (straight >= 300)
    circuity = float(np.median(road[far] / straight[far])) if far.any() else 1.0
    circuity = min(max(circuity, 1.0), 3.0)
    reason = [None if k else "off_network" for k in ok]
    sub = sub.with_columns(
        pl.Series("distance_m", np.where(ok, road, np.nan)).fill_nan(None),
        pl.Series("reason", reason, dtype=pl.String),
    )
    return pl.concat([obs.filter(~usable), sub]), circuity
