"""A travel-time model learned from the agency's own history (``dispatch coverage fit``).

Each incident's first-arriving unit travelled from somewhere to the incident in ``travel_s``
seconds (en route -> on scene). Assuming it left its home station (``units``), the model
learns travel as a function of the straight-line distance d from that station::

    travel_s = intercept_s + d * circuity / speed_mps

``intercept_s`` absorbs getting under way and parking; ``circuity`` is the ratio of road
distance to straight-line distance; ``speed_mps`` the road speed. From straight-line
distances alone only ``circuity / speed`` (the slope) is identifiable: ``circuity`` is an
assumed value (default 1.3, typical of street grids) used to report a road speed; the
predictions do not depend on it.

The fit is a **quantile regression** (median, and the 90th percentile), solved by
iteratively reweighted least squares with the slope and intercept kept >= 0, so travel is
monotone in distance and robust to the outliers of real CAD data (units not at their station,
late status buttons). Before fitting, an outlier rule drops calls with ``travel_s`` outside
``[min_travel_s, max_travel_s]`` or an implied straight-line speed above ``max_speed_mps``.
One fit per hour-of-day band (:data:`HOUR_BANDS`) with at least ``min_band_n`` training calls,
else the all-hours fit. The error is measured on held-out calls (a seeded split); the stored
model is then refitted on every usable call.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ..errors import CoverageError
from ..spatial.distance import haversine_m
from ._planning import check_agency, date_range, scoped_connect, store_root
from .travel_fit import check_fit_options, exclusion_reasons, quantile_fit

__all__ = [
    "HOUR_BANDS",
    "MODEL_FILE",
    "BandFit",
    "TravelModel",
    "model_path",
    "quantile_fit",
    "travel_observations",
]

#: Local hour-of-day bands (inclusive hour ranges).
HOUR_BANDS: dict[str, tuple[int, int]] = {
    "night": (0, 6),
    "morning": (7, 9),
    "midday": (10, 15),
    "evening": (16, 19),
    "late": (20, 23),
}
MODEL_FILE = "travel_model.json"
_VERSION = 1


def model_path(root: str | os.PathLike) -> Path:
    """Where the fitted model of a store lives: ``<root>/models/travel_model.json``."""
    return Path(root) / "models" / MODEL_FILE


@dataclass
class BandFit:
    """The coefficients of one hour band (``a + b d`` for the median and the 90th pct)."""

    hours: tuple[int, int]
    intercept_s: float
    slope_s_per_m: float
    intercept_p90_s: float
    slope_p90_s_per_m: float
    n_train: int
    pooled: bool = False  # True: too few calls, the all-hours fit is used

    def predict(self, d: np.ndarray, quantile: int = 50) -> np.ndarray:
        if quantile == 90:
            return self.intercept_p90_s + self.slope_p90_s_per_m * d
        return self.intercept_s + self.slope_s_per_m * d


def _fit_band(d, t, hours, n_min: int, fallback: BandFit | None) -> BandFit:
    if fallback is not None and len(d) < n_min:
        return BandFit(hours, *_coefs(fallback), n_train=int(len(d)), pooled=True)
    a, b = quantile_fit(d, t, 0.5)
    a9, b9 = quantile_fit(d, t, 0.9)
    return BandFit(hours, a, b, max(a9, a), max(b9, b), n_train=int(len(d)))


def _coefs(b: BandFit) -> tuple[float, float, float, float]:
    return b.intercept_s, b.slope_s_per_m, b.intercept_p90_s, b.slope_p90_s_per_m


def _band_of(hours: np.ndarray, bands: dict[str, tuple[int, int]]) -> np.ndarray:
    out = np.full(len(hours), "", dtype=object)
    for name, (lo, hi) in bands.items():
        out[(hours >= lo) & (hours <= hi)] = name
    return out


def _fit_all(d, t, h, bands, min_band_n) -> dict[str, BandFit]:
    fits = {"all": _fit_band(d, t, (0, 23), 0, None)}
    names = _band_of(h, bands)
    for name, hrs in bands.items():
        m = names == name
        fits[name] = _fit_band(d[m], t[m], hrs, min_band_n, fits["all"])
    return fits


def _error(pred: np.ndarray, obs: np.ndarray) -> dict[str, float | int | None]:
    if len(obs) == 0:
        return {"n": 0, "median_abs_error_s": None, "median_abs_pct_error": None, "bias_s": None}
    err = pred - obs
    return {
        "n": int(len(obs)),
        "median_abs_error_s": float(np.median(np.abs(err))),
        "median_abs_pct_error": float(np.median(np.abs(err) / obs)),
        "bias_s": float(np.median(err)),
    }


@dataclass
class TravelModel:
    """Travel time from a station as a function of distance, by hour band.

    Build with :meth:`from_store` (or :meth:`from_frame`); reuse with :meth:`load`.

    Attributes
    ----------
    bands : dict of str -> BandFit
        ``all`` and one fit per hour band.
    circuity : float
        Road / straight-line distance: assumed, or measured on the road network.
    distance : str
        ``straight_line`` (haversine from the home station) or ``network`` (by road).
    network : dict or None
        The road network's ``path``, ``sha256`` and ``max_snap_m`` (network models).
    speed_kph : float
        The road speed implied by the all-hours median slope at that circuity.
    holdout : dict
        Error on held-out calls: ``n``, ``median_abs_error_s``, ``median_abs_pct_error``,
        ``bias_s`` (median of predicted - observed), ``by_band``.
    n_used : int
        Calls the stored model is fitted on.
    excluded : dict of str -> int
        Calls not used, by reason.
    metadata : dict
        Seed, split, rules, date range, fit time.
    """

    bands: dict[str, BandFit]
    circuity: float
    distance: str = "straight_line"
    holdout: dict = field(default_factory=dict)
    n_used: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    network: dict | None = None  # path, sha256, max_snap_m of the road network used

    @property
    def speed_kph(self) -> float:
        """Road speed of the all-hours median fit (network: 1 / slope; straight line:
        circuity / slope)."""
        b = self.bands["all"].slope_s_per_m
        k = 1.0 if self.distance == "network" else self.circuity
        return float(k / b * 3.6) if b > 0 else float("inf")

    def load_network(self):
        """The road network this model was fitted on (checked unchanged).

        Raises
        ------
        CoverageError
            Not a network model, or the file is missing or changed since the fit.
        """
        from .network import RoadNetwork, file_sha256

        if self.distance != "network" or not self.network:
            raise CoverageError("this travel model uses straight-line distances, no network")
        path = Path(self.network["path"])
        if not path.is_file() or file_sha256(path) != self.network["sha256"]:
            raise CoverageError(
                f"the travel model was fitted on the network {path}, which is "
                f"{'missing' if not path.is_file() else 'changed'}; refit with "
                "`dispatch coverage fit --network FILE.graphml`"
            )
        return RoadNetwork.read(path, max_snap_m=float(self.network.get("max_snap_m", 300)))

    # ------------------------------------------------------------------ prediction
    def predict(self, distance_m, hour: int | None = None, quantile: int = 50) -> np.ndarray:
        """Modelled travel seconds for straight-line distances (metres).

        Parameters
        ----------
        distance_m : array_like
        hour : int, optional
            Local hour 0-23: that band's fit; default the all-hours fit.
        quantile : 50 or 90
            The median (default) or the 90th-percentile travel.
        """
        if quantile not in (50, 90):
            raise CoverageError(f"`quantile` must be 50 or 90, got {quantile!r}")
        band = self.bands["all"]
        if hour is not None:
            if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
                raise CoverageError(f"`hour` must be a local hour 0-23, got {hour!r}")
            name = _band_of(np.array([hour]), self.band_hours)[0]
            band = self.bands.get(name, band)
        return band.predict(np.asarray(distance_m, dtype=float), quantile)

    def predict_hours(self, distance_m, hours, quantile: int = 50) -> np.ndarray:
        """Modelled travel for each distance at its own local hour (-1: all-hours fit)."""
        d = np.asarray(distance_m, dtype=float)
        names = _band_of(np.asarray(hours, dtype=int), self.band_hours)
        out = self.bands["all"].predict(d, quantile)
        for name, band in self.bands.items():
            m = names == name
            if name != "all" and m.any():
                out[m] = band.predict(d[m], quantile)
        return out

    def reach_m(self, target_s: float, hour: int | None = None, quantile: int = 50) -> float:
        """The largest straight-line distance modelled to be reached within ``target_s``."""
        band = self.bands["all"]
        if hour is not None:
            band = self.bands.get(_band_of(np.array([hour]), self.band_hours)[0], band)
        a, b = (
            (band.intercept_p90_s, band.slope_p90_s_per_m)
            if quantile == 90
            else (
                band.intercept_s,
                band.slope_s_per_m,
            )
        )
        if target_s < a:
            return 0.0
        return float("inf") if b <= 0 else float((target_s - a) / b)

    @property
    def band_hours(self) -> dict[str, tuple[int, int]]:
        return {k: v.hours for k, v in self.bands.items() if k != "all"}

    # ------------------------------------------------------------------ fitting
    @classmethod
    def from_frame(
        cls,
        obs: pl.DataFrame,
        seed: int = 0,
        test_share: float = 0.2,
        circuity: float = 1.3,
        hour_bands: dict[str, tuple[int, int]] | None = None,
        min_band_n: int = 30,
        min_travel_s: float = 10.0,
        max_travel_s: float = 1800.0,
        max_speed_mps: float = 40.0,
    ) -> TravelModel:
        """Fit on observations: ``travel_s``, ``distance_m``, ``local_hour`` (and optionally
        ``reason``: rows with a non-null reason are excluded under that reason).

        Raises
        ------
        CoverageError
            Bad options, or fewer than 10 usable calls.
        """
        check_fit_options(seed, test_share, circuity, min_band_n, min_travel_s, max_travel_s)
        bands = dict(hour_bands or HOUR_BANDS)
        reason = exclusion_reasons(obs, min_travel_s, max_travel_s, max_speed_mps)
        excluded = {k: int(v) for k, v in pl.Series(reason).drop_nulls().value_counts().iter_rows()}
        ok = np.array([r is None for r in reason], dtype=bool)
        d = obs["distance_m"].to_numpy().astype(float)[ok]
        t = obs["travel_s"].to_numpy().astype(float)[ok]
        h = obs["local_hour"].fill_null(-1).to_numpy().astype(int)[ok]
        if len(d) < 10:
            raise CoverageError(
                f"only {len(d)} usable calls to learn travel times from (excluded: "
                + (", ".join(f"{k} {v}" for k, v in sorted(excluded.items())) or "none")
                + "); load units with home stations (`dispatch units load` / `derive`) and "
                "the stations (`dispatch stations load`)"
            )
        rng = np.random.default_rng(seed)
        test = rng.random(len(d)) < test_share
        holdout: dict[str, Any] = {}
        if test.any() and (~test).sum() >= 10:
            fits = _fit_all(d[~test], t[~test], h[~test], bands, min_band_n)
            pred = cls(fits, circuity).predict_hours(d[test], h[test])
            holdout = dict(_error(pred, t[test]))
            names = _band_of(h[test], bands)
            holdout["by_band"] = {b: _error(pred[names == b], t[test][names == b]) for b in bands}
            holdout["n_train"] = int((~test).sum())
        final = _fit_all(d, t, h, bands, min_band_n)
        meta = {
            "seed": seed,
            "test_share": test_share,
            "rules": {
                "min_travel_s": min_travel_s,
                "max_travel_s": max_travel_s,
                "max_speed_mps": max_speed_mps,
                "min_band_n": min_band_n,
            },
            "fitted_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "fit": "quantile regression (median and 90th pct), a, b >= 0, IRLS",
        }
        return cls(
            final, circuity, holdout=holdout, n_used=int(len(d)), excluded=excluded, metadata=meta
        )

    @classmethod
    def from_store(
        cls,
        store: Any,
        priority: list[str] | None = None,
        call_category: list[str] | None = None,
        network: Any = None,
        agency: str | None = None,
        **options: Any,
    ) -> TravelModel:
        """Fit on the store's history (see :func:`travel_observations`).

        Parameters
        ----------
        store : Store
        priority, call_category : list of str, optional
            Learn only from these calls (e.g. the emergency priority: travel with lights and
            sirens differs from a non-emergency response).
        network : path or RoadNetwork, optional
            A GraphML road network: distances by road (see :mod:`.network`); circuity is
            then measured (median road / straight-line distance over the calls).
        agency : str, list of str or None
            Only this agency's calls (several: taken together; ``"all"``: every agency; None:
            the store's only agency, an AgencyError when it holds several).
        **options
            As :meth:`from_frame` (``seed``, ``test_share``, ``circuity``, ...).
        """
        check_agency(agency)
        con = scoped_connect(store, agency)
        try:
            obs = travel_observations(con)
            dates = date_range(con)
        finally:
            con.close()
        net = None
        if network is not None:
            from .network import RoadNetwork, network_distances

            net = network if isinstance(network, RoadNetwork) else RoadNetwork.read(network)
            obs, measured = network_distances(obs, net)
            options["circuity"] = measured
        n_all = obs.height
        for col, values in (("priority", priority), ("call_category", call_category)):
            if values:
                obs = obs.filter(pl.col(col).is_in([str(v) for v in values]))
        if n_all and obs.height == 0:
            raise CoverageError(
                f"no incidents with `priority` {priority} / `call_category` {call_category}; "
                'check the values (`dispatch sql "select priority, count(*) from incidents '
                'group by 1"`)'
            )
        model = cls.from_frame(obs, **options)
        if net is not None:
            model.distance = "network"
            model.network = {
                "path": str(Path(net.path).resolve()),
                "sha256": net.sha256,
                "max_snap_m": net.max_snap_m,
            }
        model.metadata["filters"] = {"priority": priority, "call_category": call_category}
        model.metadata["calls_in_scope"] = obs.height
        model.metadata["date_range"] = dates
        model.metadata["data_dir"] = str(store_root(store))
        return model

    # ------------------------------------------------------------------ storage
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (what :meth:`save` writes)."""
        return {
            "version": _VERSION,
            "distance": self.distance,
            "network": self.network,
            "circuity": self.circuity,
            "speed_kph": self.speed_kph,
            "bands": {k: asdict(v) for k, v in self.bands.items()},
            "holdout": self.holdout,
            "n_used": self.n_used,
            "excluded": self.excluded,
            "metadata": self.metadata,
        }

    def save(self, root: str | os.PathLike) -> Path:
        """Write the model to ``<root>/models/travel_model.json`` atomically."""
        from ..store.spatial_tables import atomic_write

        path = model_path(root)
        text = json.dumps(self.to_dict(), indent=1, default=str)
        atomic_write(path, lambda p: Path(p).write_text(text, encoding="utf-8"))
        return path

    @classmethod
    def load(cls, root: str | os.PathLike) -> TravelModel:
        """The model saved for a store.

        Raises
        ------
        CoverageError
            None saved yet (run ``dispatch coverage fit``), or the file is unreadable.
        """
        path = model_path(root)
        if not path.is_file():
            raise CoverageError(
                f"no travel model in {path.parent}; fit one first with `dispatch coverage fit`"
            )
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            bands = {k: BandFit(**{**v, "hours": tuple(v["hours"])}) for k, v in d["bands"].items()}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CoverageError(
                f"cannot read the travel model {path} ({exc}); refit it with `dispatch coverage fit`"
            ) from None
        return cls(
            bands,
            float(d["circuity"]),
            d.get("distance", "straight_line"),
            d.get("holdout", {}),
            int(d.get("n_used", 0)),
            d.get("excluded", {}),
            d.get("metadata", {}),
            d.get("network"),
        )


def travel_observations(con) -> pl.DataFrame:
    """The query ``travel_observations`` plus ``distance_m`` (home station -> incident).

    Parameters
    ----------
    con : DuckDB connection with the catalog views

    Returns
    -------
    polars.DataFrame
        The query's columns and ``distance_m`` (straight line, metres; null when a point is
        missing).
    """
    from ..metrics.queries import run_query

    obs = run_query(con, "travel_observations", {})
    d = haversine_m(
        obs["station_latitude"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
        obs["station_longitude"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
        obs["latitude"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
        obs["longitude"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
    )
    return obs.with_columns(pl.Series("distance_m", d).fill_nan(None))
