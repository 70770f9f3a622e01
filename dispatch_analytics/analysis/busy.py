"""Coverage that knows units are busy: expected coverage in the manner of MEXCLP.

Plain coverage assumes every station's units are at home when a call comes. They are not: a
station whose units are committed a share ``q`` of the time covers its cells only ``1 - q`` of
the time. Following the maximum expected covering location problem (MEXCLP, Daskin 1983), a
cell that ``k`` stations reach within the target is covered with probability

    1 - q_1 * q_2 * ... * q_k

(the call finds at least one of them available; stations busy independently of each other).
Each station's ``q`` is its **busy share** measured from the agency's own history by the
``station_busy_share`` query (committed unit hours / unit hours of the window, per local hour
band; overlapping commitments of one unit count once). With ``hour`` the share of the band
holding that local hour is used, otherwise the share over the whole day.

A station without responses in the history (a new station of a what-if or a siting, a station
whose units never ran) has no measured share: it gets the **mean share of the measured
stations**, and the result lists it under ``busy_assumed`` (never a silent zero).

Expected coverage is never above plain coverage: a cell no station reaches has probability 0,
and a probability is at most 1.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import polars as pl

from ..errors import CoverageError
from ..metrics.queries import prepare, run_query
from ..spatial.distance import haversine_m
from ._common import connection, data_dates

__all__ = [
    "BusyShares",
    "expected_cover",
    "add_expected_cover",
    "travel_matrix",
    "BUSY_CELL_COLUMNS",
    "BUSY_METHOD",
]

#: Columns a busy-aware coverage adds to its cells.
BUSY_CELL_COLUMNS: dict[str, str] = {
    "n_covering": "stations whose modelled travel to the cell is within the target",
    "expected_covered": "chance the call finds one of those stations available: 1 - product "
    "of their busy shares (MEXCLP); 0 when none reaches the cell",
}

#: How the expected coverage is computed, for exports and the JSON.
BUSY_METHOD = (
    "expected coverage (MEXCLP, Daskin 1983): a cell reached within the target by stations "
    "1..k counts with probability 1 - q1*...*qk, q = the station's busy share measured from "
    "its units' committed time (station_busy_share query); stations without history take the "
    "mean share of the measured stations"
)


@dataclass
class BusyShares:
    """Each station's busy share (the chance its units are committed at a random moment).

    Build with :meth:`from_store` (measured) or :meth:`from_mapping` (given).

    Attributes
    ----------
    shares : dict
        ``station_id -> busy share`` (0..1) of the measured stations.
    default : float
        The share of a station without history: the mean of ``shares`` (0 when none).
    hour : int or None
        The local hour whose band was used (None: the whole day).
    band : tuple of int or None
        ``(start hour, end hour)`` of that band.
    window : tuple of str or None
        First and last local date of the history used.
    source : str
        ``"measured"`` or ``"given"``.
    agencies : list of str
        The agencies measured (several: each agency's units over its own calls, in its own
        time zone and window).
    agency_shares : dict
        ``(agency, station_id) -> busy share`` when several agencies were measured.
    station_agency : dict
        ``station_id -> agency`` of the stations that belong to one of them (a station id of
        several agencies, or of none, takes its share over all of them).
    windows : dict
        ``agency -> (first, last local date)`` of each agency's history.
    """

    shares: dict[str, float]
    default: float
    hour: int | None = None
    band: tuple[int, int] | None = None
    window: tuple[str, str] | None = None
    source: str = "given"
    units: dict[str, int] = field(default_factory=dict)
    agencies: list[str] = field(default_factory=list)
    agency_shares: dict[tuple[str, str], float] = field(default_factory=dict)
    station_agency: dict[str, str] = field(default_factory=dict)
    windows: dict[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, shares: Mapping[str, float], default: float | None = None) -> BusyShares:
        """Given busy shares (for planning with assumed values, and for tests).

        Raises
        ------
        CoverageError
            A share outside 0..1.
        """
        bad = [f"{k}={v!r}" for k, v in shares.items() if not _is_share(v)]
        if default is not None and not _is_share(default):
            bad.append(f"default={default!r}")
        if bad:
            raise CoverageError(
                f"busy shares must be numbers from 0 to 1: {', '.join(bad)}; e.g. 0.15 for a "
                "station whose units are committed 15% of the time"
            )
        vals = {str(k): float(v) for k, v in shares.items()}
        if default is None:
            default = float(np.mean(list(vals.values()))) if vals else 0.0
        return cls(vals, float(default))

    @classmethod
    def from_store(
        cls,
        store: Any,
        hour: int | None = None,
        agency: str | list[str] | None = None,
        band_h: int = 4,
    ) -> BusyShares:
        """Busy shares measured over the whole history of the store.

        Parameters
        ----------
        store : Store or duckdb.DuckDBPyConnection
        hour : int, optional
            A local hour (0-23): the shares of the ``band_h``-hour band holding it.
        agency : str, list of str or None
            The agency whose units are measured; several (or ``"all"``): each agency's units
            over its own calls, its own window and time zone, and a station takes the share of
            its agency (:attr:`agency_shares`). None: the store's only agency (a store of
            several raises :class:`AgencyError`: pass ``agency="all"`` or a name).
        band_h : int
            Hours per band (divides 24).

        Raises
        ------
        CoverageError
            A bad hour, or a store with no unit responses.
        AgencyError
            An unknown agency, or None for a store of several.
        """
        from ..metrics.agencies import agency_names
        from ..metrics.agency_scope import agency_scope
        from ._common import resolve_agencies

        if hour is not None and (isinstance(hour, bool) or not isinstance(hour, int)):
            raise CoverageError(f"`hour` must be a local hour from 0 to 23, got {hour!r}")
        if hour is not None and not 0 <= hour <= 23:
            raise CoverageError(f"`hour` must be a local hour from 0 to 23, got {hour!r}")
        con = connection(store)
        try:
            chosen = resolve_agencies(con, agency)
            names = agency_names(con) if chosen is None else chosen
            # each agency over its own calls (its window, its time zone)
            parts = [_measure(prepare(agency_scope(con, [a])), a, hour, band_h) for a in names]
            parts = parts or [_measure(con, None, hour, band_h)]
            owners = _station_owners(con, names) if len(names) > 1 else {}
        finally:
            if not isinstance(store, duckdb.DuckDBPyConnection):
                con.close()
        return cls._combine(parts, hour, owners)

    @classmethod
    def _combine(cls, parts: list[dict], hour: int | None, owners: dict[str, str]) -> BusyShares:
        """One BusyShares of the per-agency measurements of :func:`_measure`."""
        frames = [p["frame"] for p in parts]
        per = pl.concat(frames) if frames else pl.DataFrame()
        total = (
            per.group_by("station_id")
            .agg(
                pl.col("committed_h").sum(), pl.col("unit_window_h").sum(), pl.col("n_units").sum()
            )
            .sort("station_id")
        )
        shares = _share_dict(total)
        agency_shares: dict[tuple[str, str], float] = {}
        if len(parts) > 1:
            for r in per.iter_rows(named=True):
                q = r["committed_h"] / r["unit_window_h"]
                agency_shares[(r["agency"], r["station_id"])] = min(max(q, 0.0), 1.0)
        measured = list(agency_shares.values()) if agency_shares else list(shares.values())
        default = float(np.mean(measured)) if measured else 0.0
        windows = {p["agency"]: p["window"] for p in parts if p["agency"] is not None}
        lo = min(p["window"][0] for p in parts)
        hi = max(p["window"][1] for p in parts)
        band = next((p["band"] for p in parts if p["band"] is not None), None)
        return cls(
            shares,
            default,
            hour,
            band,
            (lo, hi),
            "measured",
            dict(zip(total["station_id"].to_list(), total["n_units"].to_list(), strict=True)),
            agencies=[p["agency"] for p in parts if p["agency"] is not None],
            agency_shares=agency_shares,
            station_agency=owners,
            windows=windows if len(parts) > 1 else {},
        )

    def of(self, station_ids: Iterable[Any]) -> tuple[np.ndarray, list[str]]:
        """The share of each station (``default`` for one without history) and the ids that
        took the default."""
        ids = [str(s) for s in station_ids]
        out, assumed = [], []
        for s in ids:
            q = self._share(s)
            if q is None:
                assumed.append(s)
            out.append(self.default if q is None else q)
        return np.array(out, dtype=float), assumed

    def _share(self, station_id: str) -> float | None:
        """A station's measured share: its agency's when it belongs to one of several
        agencies measured, else over every agency measured (None: no history)."""
        owner = self.station_agency.get(station_id)
        if self.agency_shares and owner is not None:
            return self.agency_shares.get((owner, station_id))
        return self.shares.get(station_id)

    def describe(self, station_ids: Iterable[Any]) -> dict[str, Any]:
        """What an output states: the method, the band, the window and each station's share."""
        q, assumed = self.of(station_ids)
        ids = [str(s) for s in station_ids]
        return {
            "method": BUSY_METHOD,
            "source": self.source,
            "hour": self.hour,
            "band": list(self.band) if self.band else None,
            "window": list(self.window) if self.window else None,
            "busy_share": dict(zip(ids, q.tolist(), strict=True)),
            "busy_assumed": assumed,
            "busy_default": self.default,
            **(
                {
                    "agencies": list(self.agencies),
                    "windows": {a: list(w) for a, w in self.windows.items()},
                    "busy_agency": {s: self.station_agency.get(s) for s in ids},
                }
                if len(self.agencies) > 1
                else {}
            ),
        }


def travel_matrix(model, network, hour, quantile, dlat, dlon, flat, flon) -> np.ndarray:
    """Modelled travel from every facility to every demand point, ``(n_demand, n_facilities)``:
    by road when ``network`` is given (the model was fitted on one), else straight line."""
    if network is not None:
        d = network.distance(flat, flon, dlat, dlon).T
    else:
        d = haversine_m(dlat[:, None], dlon[:, None], flat[None, :], flon[None, :])
    return model.predict(d, hour=hour, quantile=quantile)


def expected_cover(
    travel_s: np.ndarray, target_s: float, busy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Stations reaching each cell and the MEXCLP probability that one of them is available.

    Parameters
    ----------
    travel_s : numpy.ndarray
        ``(cells, stations)`` modelled travel.
    target_s : float
    busy : numpy.ndarray
        ``(stations,)`` busy shares.

    Returns
    -------
    n_covering, expected : numpy.ndarray
        Per cell: the count of stations within the target, and ``1 - prod(busy)`` over them
        (0 where none).
    """
    covers = np.asarray(travel_s) <= target_s
    q = np.where(covers, np.asarray(busy, dtype=float)[None, :], 1.0)
    n = covers.sum(axis=1).astype(np.int64)
    expected = np.where(n > 0, 1.0 - q.prod(axis=1), 0.0)
    return n, expected


def add_expected_cover(cells, stations, travel, target_s, busy, summary, meta, columns):
    """A coverage's cells and stations with the expected-coverage columns (``n_covering``,
    ``expected_covered``; ``busy_share`` per station); ``summary`` gains
    ``expected_covered_share`` / ``expected_covered_demand`` and ``meta`` the busy shares used."""
    q, _ = busy.of(stations["station_id"].to_list())
    n, expected = expected_cover(travel, target_s, q)
    cells = cells.with_columns(
        pl.Series("n_covering", n, dtype=pl.Int64), pl.Series("expected_covered", expected)
    )
    total = int(cells["demand"].sum())
    exp_demand = float((cells["demand"].to_numpy() * expected).sum())
    summary["expected_covered_share"] = exp_demand / total if total else None
    summary["expected_covered_demand"] = exp_demand
    meta["busy"] = busy.describe(stations["station_id"].to_list())
    meta["columns"] = {**columns, **BUSY_CELL_COLUMNS}
    return cells, stations.with_columns(pl.Series("busy_share", q))


def _measure(con: duckdb.DuckDBPyConnection, agency: str | None, hour: int | None, band_h: int):
    """One agency's (or, None, the whole store's) committed and window hours per station over
    its own history: ``{"agency", "frame", "window", "band"}``."""
    first, last = data_dates(con)
    if first is None or last is None:
        who = f"agency {agency!r} holds" if agency else "the store holds"
        raise CoverageError(
            "`--busy` needs the agency's unit responses to measure how busy each station "
            f"is, and {who} none; ingest data first (`dispatch ingest`)"
        )
    df = run_query(
        con,
        "station_busy_share",
        {
            "from_date": first,
            "to_date": last + dt.timedelta(days=1),
            "band_h": band_h,
            "agency": agency,
        },
    )
    band = None
    if hour is not None:
        df = df.filter((pl.col("band_start_hour") <= hour) & (pl.col("band_end_hour") > hour))
        if df.height:
            band = (int(df["band_start_hour"][0]), int(df["band_end_hour"][0]))
    frame = (
        df.group_by("station_id")
        .agg(pl.col("committed_h").sum(), pl.col("unit_window_h").sum(), pl.col("n_units").max())
        .filter(pl.col("unit_window_h") > 0)
        .with_columns(pl.lit(agency, pl.String).alias("agency"))
        .sort("station_id")
    )
    return {
        "agency": agency,
        "frame": frame,
        "window": (first.isoformat(), last.isoformat()),
        "band": band,
    }


def _share_dict(per: pl.DataFrame) -> dict[str, float]:
    if per.height == 0:
        return {}
    q = (per["committed_h"] / per["unit_window_h"]).clip(0.0, 1.0)
    return dict(zip(per["station_id"].to_list(), q.to_list(), strict=True))


def _station_owners(con: duckdb.DuckDBPyConnection, names: list[str]) -> dict[str, str]:
    """``station_id -> agency`` for the station ids that belong to exactly one of ``names``."""
    rows = con.execute(
        "select station_id, min(agency) from stations where list_contains($names, agency) "
        "group by station_id having count(distinct agency) = 1",
        {"names": names},
    ).fetchall()
    return {str(s): str(a) for s, a in rows}


def _is_share(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) and 0 <= v <= 1
