"""What if a station were added, moved or closed? Modelled coverage before and after.

``WhatIf.from_coverage(before, add=[(lon, lat)], move={"05": (lon, lat)}, close=["12"])``
keeps the grid, demand and travel model of ``before`` and re-evaluates the changed station
set (:meth:`Coverage.evaluate`: one nearest-station pass over the cells). New stations are
named ``new_1``, ``new_2``... A new or moved station must lie inside the service area.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from ..errors import CoverageError
from .coverage import SUMMARY_FIELDS, Coverage

__all__ = ["WhatIf", "parse_lonlat", "changed_stations"]

_DELTA_FIELDS = tuple(f for f in SUMMARY_FIELDS if f not in ("target_s", "demand_outside_area"))
#: Summary fields of a busy-aware coverage (``--busy``).
_BUSY_FIELDS = ("expected_covered_share", "expected_covered_demand")


def parse_lonlat(text: str, arg: str = "--add-station") -> tuple[float, float]:
    """``"LON,LAT"`` -> (lon, lat), checked; :class:`CoverageError` naming ``arg`` otherwise."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        lon, lat = (float(p) for p in parts)
    except ValueError:
        raise CoverageError(
            f"`{arg}` {text!r} is not LON,LAT (two numbers, longitude first), e.g. -122.42,37.77"
        ) from None
    return _check_point(lon, lat, arg)


def _check_point(lon: Any, lat: Any, arg: str) -> tuple[float, float]:
    try:
        lon, lat = float(lon), float(lat)
    except (TypeError, ValueError):
        raise CoverageError(f"`{arg}` ({lon!r}, {lat!r}) is not a pair of numbers") from None
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise CoverageError(
            f"`{arg}` {lon},{lat} is not a longitude,latitude pair (longitude -180..180, "
            "latitude -90..90; longitude first)"
        )
    return lon, lat


def changed_stations(
    stations: pl.DataFrame,
    add: Sequence[tuple[float, float]] = (),
    move: Mapping[str, tuple[float, float]] | None = None,
    close: Iterable[str] = (),
    area: Any = None,
) -> pl.DataFrame:
    """The station set after the changes (validated; every problem listed at once).

    Raises
    ------
    CoverageError
        An unknown station id, a point outside ``area`` or not a lon/lat pair, a station both
        moved and closed, or no station left.
    """
    import shapely

    move = dict(move or {})
    close = list(close)
    known = stations["station_id"].to_list()
    problems: list[str] = []
    for arg, ids in (("--move-station", list(move)), ("--close-station", close)):
        bad = [i for i in ids if i not in known]
        if bad:
            problems.append(
                f"`{arg}`: unknown station id(s) {', '.join(map(repr, bad))}; loaded stations: "
                f"{', '.join(known[:60])}{' ...' if len(known) > 60 else ''}"
            )
    both = sorted(set(move) & set(close))
    if both:
        problems.append(f"station(s) {', '.join(both)} both moved and closed; choose one")
    points = [("--add-station", None, p) for p in add] + [
        ("--move-station", k, p) for k, p in move.items()
    ]
    checked = []
    for arg, sid, (lon, lat) in points:
        try:
            lon, lat = _check_point(lon, lat, arg)
        except CoverageError as exc:
            problems.append(str(exc))
            continue
        if area is not None and not shapely.covers(area, shapely.Point(lon, lat)):
            what = f"station {sid} moved to" if sid else "new station at"
            problems.append(
                f"`{arg}`: {what} {lon:.6f},{lat:.6f} is outside the service area; pick a "
                "point inside it (LON,LAT, longitude first)"
            )
        checked.append((sid, lon, lat))
    remaining = len(known) - len(set(close)) + len(add)
    if not problems and remaining < 1:
        problems.append("closing every station leaves none; keep or add at least one")
    if problems:
        raise CoverageError(problems, "cannot apply the station changes")
    out = stations.filter(~pl.col("station_id").is_in(close))
    for sid, lon, lat in checked:
        if sid is not None:
            out = out.with_columns(
                pl.when(pl.col("station_id") == sid)
                .then(lat)
                .otherwise(pl.col("latitude"))
                .alias("latitude"),
                pl.when(pl.col("station_id") == sid)
                .then(lon)
                .otherwise(pl.col("longitude"))
                .alias("longitude"),
            )
    new = [(sid, lon, lat) for sid, lon, lat in checked if sid is None]
    if new:
        out = pl.concat(
            [
                out,
                pl.DataFrame(
                    {
                        "station_id": [f"new_{k + 1}" for k in range(len(new))],
                        "name": [f"new station {k + 1}" for k in range(len(new))],
                        "latitude": [p[2] for p in new],
                        "longitude": [p[1] for p in new],
                    },
                    schema=out.schema,
                ),
            ]
        )
    return out


@dataclass
class WhatIf:
    """Coverage before and after station changes. Build with :meth:`from_coverage`.

    Attributes
    ----------
    before, after : Coverage
    delta : dict
        ``after - before`` of each summary field (covered_share, covered_demand, ...).
    changed_cells : polars.DataFrame
        Cells whose nearest station or covered flag changed: ``h3_cell, latitude, longitude,
        demand, station_before, station_after, travel_before_s, travel_after_s,
        covered_before, covered_after``.
    changes : dict
        ``add``, ``move``, ``close`` as given.
    metadata : dict
    """

    before: Coverage
    after: Coverage
    delta: dict
    changed_cells: pl.DataFrame
    changes: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)

    @classmethod
    def from_coverage(
        cls,
        before: Coverage,
        add: Sequence[tuple[float, float]] = (),
        move: Mapping[str, tuple[float, float]] | None = None,
        close: Iterable[str] = (),
    ) -> WhatIf:
        """Re-evaluate ``before``'s grid with the changed stations.

        Parameters
        ----------
        before : Coverage
        add : sequence of (lon, lat)
            New stations.
        move : mapping station_id -> (lon, lat)
        close : iterable of station_id

        Raises
        ------
        CoverageError
            See :func:`changed_stations`.
        """
        close = list(close)
        plain = before.stations.drop("busy_share", strict=False)  # re-derived by evaluate
        stations = changed_stations(plain, add, move, close, before.grid.area)
        after = Coverage.evaluate(
            before.grid,
            stations,
            before.model,
            before.target_s,
            before.quantile,
            before.hour,
            network=before.network,
            busy=before.busy,
        )
        delta = {
            k: (after.summary[k] - before.summary[k])
            if before.summary[k] is not None and after.summary[k] is not None
            else None
            for k in _DELTA_FIELDS + _BUSY_FIELDS
            if k in before.summary and k in after.summary
        }
        changes = {
            "add": [list(p) for p in add],
            "move": {k: list(v) for k, v in (move or {}).items()},
            "close": close,
        }
        meta = {**after.metadata, "analysis": "what-if", "changes": changes}
        return cls(before, after, delta, _changed(before, after), changes, meta)

    def to_dict(self) -> dict[str, Any]:
        """``before``, ``after`` (summary fields), ``delta`` and the changes (the JSON)."""
        return {
            "before": dict(self.before.summary),
            "after": dict(self.after.summary),
            "delta": dict(self.delta),
            "changes": self.changes,
            "changed_cells": self.changed_cells.height,
        }

    def to_geodataframe(self):
        """The after-cells as hexagons with ``travel_before_s``, ``covered_before`` and
        ``change`` (``newly covered``, ``newly uncovered``, ``faster``, ``slower``, ``same``)."""
        gdf = self.after.to_geodataframe()
        b = self.before.cells
        gdf["travel_before_s"] = b["travel_s"].to_numpy()
        gdf["covered_before"] = b["covered"].to_numpy()
        ta, tb = gdf["travel_s"].to_numpy(), gdf["travel_before_s"].to_numpy()
        ca, cb = gdf["covered"].to_numpy(), gdf["covered_before"].to_numpy()
        import numpy as np

        gdf["change"] = np.select(
            [ca & ~cb, cb & ~ca, ta < tb - 1e-9, ta > tb + 1e-9],
            ["newly covered", "newly uncovered", "faster", "slower"],
            "same",
        )
        return gdf


def _changed(before: Coverage, after: Coverage) -> pl.DataFrame:
    b, a = before.cells, after.cells
    t = pl.DataFrame(
        {
            "h3_cell": b["h3_cell"],
            "latitude": b["latitude"],
            "longitude": b["longitude"],
            "demand": b["demand"],
            "station_before": b["station_id"],
            "station_after": a["station_id"],
            "travel_before_s": b["travel_s"],
            "travel_after_s": a["travel_s"],
            "covered_before": b["covered"],
            "covered_after": a["covered"],
        }
    )
    return t.filter(
        (pl.col("station_before") != pl.col("station_after"))
        | (pl.col("covered_before") != pl.col("covered_after"))
        | ((pl.col("travel_before_s") - pl.col("travel_after_s")).abs() > 1e-9)
    )
