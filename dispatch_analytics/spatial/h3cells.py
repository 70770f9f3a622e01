"""H3 cells of incident points (``spatial/incident_cells.parquet``).

h3 is imported inside the function that needs it.
"""

from __future__ import annotations

import numpy as np
import polars as pl

__all__ = []  # private: `_h3_cells` serves assign_incidents (tests and bench call it)


def _h3_cells(lat: np.ndarray, lon: np.ndarray, resolution: int) -> pl.Series:
    """H3 cell (hex string) of each point; null where a coordinate is missing.

    h3 4.x has no vectorised ``latlng_to_cell``, so the scalar integer API runs once per
    distinct coordinate pair (incidents repeat block / intersection points), and the
    integer -> hex text conversion once per distinct cell.
    """
    from h3.api import basic_int

    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    ok = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    uniq, inverse = np.unique(lat[ok] + 1j * lon[ok], return_inverse=True)
    ints = np.empty(len(uniq), np.uint64)
    f = basic_int.latlng_to_cell
    step = 1 << 17  # bounded Python-object lists
    for s in range(0, len(uniq), step):
        la, lo = uniq.real[s : s + step].tolist(), uniq.imag[s : s + step].tolist()
        ints[s : s + len(la)] = np.fromiter(
            (f(a, b, resolution) for a, b in zip(la, lo, strict=True)), np.uint64, len(la)
        )
    cells, cell_of_uniq = np.unique(ints, return_inverse=True)
    code = np.full(len(lat), -1, np.int64)
    code[ok] = cell_of_uniq[inverse]
    if len(cells) == 0:
        return pl.Series("h3_cell", [None] * len(lat), dtype=pl.String)
    text = pl.Series([format(int(c), "x") for c in cells], dtype=pl.String)
    code_s = pl.Series(code)
    return pl.select(
        pl.when(code_s >= 0).then(pl.lit(text).gather(code_s.clip(0))).alias("h3_cell")
    ).to_series()
