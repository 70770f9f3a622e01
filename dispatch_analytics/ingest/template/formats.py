"""Timestamp-format guessing: which strftime format(s) parse a column's sampled values."""

from __future__ import annotations

from collections import Counter

import polars as pl

__all__ = ["TIMESTAMP_CANDIDATES", "guess_formats", "_clean", "_format_cover"]

#: strftime formats tried on sampled values, most specific first (ties go to the earlier one).
TIMESTAMP_CANDIDATES: tuple[str, ...] = (
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%:z",
    "%Y-%m-%dT%H:%M:%S%.f%:z",
    "%Y-%m-%dT%H:%M:%S%#z",
    "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
)

_NULLS = frozenset({"", "NULL", "null", "NA", "N/A", "None"})


def _clean(values) -> list[str]:
    """The values as stripped strings, without ``None``, blanks and null tokens."""
    out = []
    for v in values:
        if v is None:
            continue
        s = str(v).strip()
        if s not in _NULLS:
            out.append(s)
    return out


def _format_cover(values) -> list[tuple[str, int]]:
    """Greedy cover of the values by candidate formats: ``[(format, values it adds), ...]``."""
    cleaned = _clean(values)
    if not cleaned:
        return []
    counts = Counter(cleaned)
    uniq = list(counts)
    weights = [counts[u] for u in uniq]
    series = pl.Series("v", uniq, dtype=pl.String)
    masks: list[tuple[str, list[bool]]] = []
    for fmt in TIMESTAMP_CANDIDATES:
        try:
            parsed = series.str.strptime(pl.Datetime, fmt, strict=False)
        except Exception:  # a format Polars refuses for these values: it parses nothing
            continue
        mask = parsed.is_not_null().to_list()
        if any(mask):
            masks.append((fmt, mask))
    remaining = [True] * len(uniq)
    cover: list[tuple[str, int]] = []
    while True:
        best, best_n, best_mask = None, 0, None
        for fmt, mask in masks:  # candidate order breaks ties (month-first before day-first)
            n = sum(w for w, ok, rem in zip(weights, mask, remaining, strict=True) if ok and rem)
            if n > best_n:
                best, best_n, best_mask = fmt, n, mask
        if best is None:
            return cover
        assert best_mask is not None  # set together with best
        cover.append((best, best_n))
        remaining = [r and not ok for r, ok in zip(remaining, best_mask, strict=True)]


def guess_formats(values: list[str]) -> list[str]:
    """Guess the strftime format(s) of a list of timestamp strings.

    Each format in :data:`TIMESTAMP_CANDIDATES` is tried with Polars
    ``str.strptime(pl.Datetime, fmt, strict=False)``. The format parsing the most values is
    taken first, then the one parsing the most of the values still unparsed, and so on, so
    the result is ordered by how many values each format accounts for. On a tie the earlier
    candidate wins: month-first (``%m/%d/%Y``) is chosen over day-first (``%d/%m/%Y``)
    unless some values only parse day-first (a first number above 12).

    Parameters
    ----------
    values : list of str
        Sampled cell values. ``None``, blanks and null tokens (``NULL``, ``NA``, ...) are
        ignored; surrounding whitespace is stripped.

    Returns
    -------
    list of str
        The formats needed to parse every parseable value, most values first; empty when
        there are no values or none parses with any candidate.

    Examples
    --------
    >>> guess_formats(["5/3/2019 5:07", "12/31/2019 23:59"])
    ['%m/%d/%Y %H:%M']
    >>> guess_formats(["13/01/2019 10:00:00", "01/02/2019 10:00:00"])
    ['%d/%m/%Y %H:%M:%S']
    """
    return [fmt for fmt, _ in _format_cover(values)]
