"""The fitting pieces of the travel model: a non-negative quantile regression, the option
checks and the outlier rule (see :mod:`.travel_model`)."""

from __future__ import annotations

import numpy as np
import polars as pl

from ..errors import CoverageError

__all__ = ["quantile_fit", "weighted_quantile", "check_fit_options", "exclusion_reasons"]


def _irls(X: np.ndarray, y: np.ndarray, q: float, iters: int, tol: float) -> np.ndarray:
    coef = np.linalg.lstsq(X, y, rcond=None)[0]
    eps = max(1e-6, 1e-6 * float(np.median(np.abs(y))))
    for _ in range(iters):
        r = y - X @ coef
        w = np.where(r >= 0, q, 1 - q) / np.maximum(np.abs(r), eps)
        sw = np.sqrt(w)
        new = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)[0]
        done = np.max(np.abs(new - coef)) <= tol * (1 + np.max(np.abs(coef)))
        coef = new
        if done:
            break
    return coef


def quantile_fit(x, y, q: float = 0.5, iters: int = 300, tol: float = 1e-10) -> tuple[float, float]:
    """Quantile regression ``y ~ a + b x`` with ``a, b >= 0`` by reweighted least squares.

    Hand-written (about 20 lines) instead of scikit-learn's ``QuantileRegressor`` (installed
    with spopt): on 2,000 synthetic calls both give the same coefficients (to 1e-6) but it
    takes 0.17 s (HiGHS linear program) against 0.003 s here, and it cannot keep the
    coefficients >= 0; the model fits 12 such problems. The tests check this fit against the
    exact check-loss minimum.

    Returns
    -------
    (a, b) : tuple of float
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if len(y) == 0:
        return 0.0, 0.0
    if np.ptp(x) <= 1e-9 * max(1.0, float(np.max(np.abs(x)))):  # one distance: no slope
        return weighted_quantile(y, q), 0.0
    a, b = _irls(np.column_stack([np.ones_like(x), x]), y, q, iters, tol)
    if b < 0:  # slope at its bound: the intercept alone is the q-quantile
        return weighted_quantile(y, q), 0.0
    if a < 0:  # intercept at its bound: the slope through the origin
        (b,) = _irls(x[:, None], y, q, iters, tol)
        return 0.0, max(0.0, float(b))
    return float(a), float(b)


def weighted_quantile(y: np.ndarray, q: float) -> float:
    """The q-quantile (inverted CDF: an observed value) of ``y``; 0 for no values."""
    return float(np.quantile(y, q, method="inverted_cdf")) if len(y) else 0.0


def check_fit_options(seed, test_share, circuity, min_band_n, min_travel_s, max_travel_s):
    problems = []
    if isinstance(seed, bool) or not isinstance(seed, int):
        problems.append(f"`seed` must be a whole number, got {seed!r}")
    if not isinstance(test_share, int | float) or not 0 <= test_share < 1:
        problems.append(f"`test_share` must be in [0, 1), got {test_share!r}")
    if not isinstance(circuity, int | float) or not 1 <= circuity <= 3:
        problems.append(f"`circuity` must be a number from 1 to 3, got {circuity!r}")
    if isinstance(min_band_n, bool) or not isinstance(min_band_n, int) or min_band_n < 1:
        problems.append(f"`min_band_n` must be a whole number >= 1, got {min_band_n!r}")
    if not 0 <= min_travel_s < max_travel_s:
        problems.append("`min_travel_s` must be >= 0 and below `max_travel_s`")
    if problems:
        raise CoverageError(problems, "invalid travel model options")


def exclusion_reasons(obs: pl.DataFrame, lo: float, hi: float, vmax: float) -> list[str | None]:
    """The exclusion reason of each observation (None = usable)."""
    n = obs.height
    given = obs["reason"].to_list() if "reason" in obs.columns else [None] * n
    t = obs["travel_s"].cast(pl.Float64).to_numpy()
    d = obs["distance_m"].cast(pl.Float64).to_numpy()
    out: list[str | None] = []
    for r, tt, dd in zip(given, t, d, strict=True):
        if r is not None:
            out.append(r)
        elif not np.isfinite(tt):
            out.append("no_travel_time")
        elif not np.isfinite(dd):
            out.append("no_coordinates")
        elif tt < lo or tt > hi:
            out.append("outlier_travel_range")
        elif dd / max(tt, 1e-9) > vmax:
            out.append("outlier_speed")
        else:
            out.append(None)
    return out
