"""Timestamp-format guessing: which strftime format(s) parse a column's sampled values."""

from __future__ import annotations

from collections import Counter

import polars as pl

__all__ = [
    "TIMESTAMP_CANDIDATES",
    "EXCEL_SERIAL_RANGE",
    "guess_formats",
    "excel_serial_guess",
    "_clean",
    "_format_cover",
]

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

#: Excel serial day numbers taken for timestamps: 1970-01-01 (25569) up to 2100-01-01 (73051).
#: Smaller or larger numbers (ids, seconds, projected coordinates) are not dates of a CAD export.
EXCEL_SERIAL_RANGE = (25569.0, 73051.0)
#: share of sampled values that must be such day numbers, and share with a time of day
_EXCEL_SHARE = 0.9
_EXCEL_TIME_SHARE = 0.5

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


def excel_serial_guess(values: list[str]) -> tuple[int, str] | None:
    """Whether a column's sampled values are Excel serial day numbers with a time of day
    (``45292.5`` is 2024-01-01 12:00: days since 1899-12-30, the fraction the time).

    Parameters
    ----------
    values : list of str
        The cleaned sample values (see :func:`_clean`).

    Returns
    -------
    tuple of (int, str) or None
        How many values are such numbers, and how sure the guess is in words (``"sure: all
        12 sampled values ..."`` or ``"likely: 11 of 12 ..."``); None when fewer than 90% are
        numbers of 1970-2099 (:data:`EXCEL_SERIAL_RANGE`) or fewer than half have a time of
        day (whole numbers are more often ids or dates without a time).
    """
    if not values:
        return None
    lo, hi = EXCEL_SERIAL_RANGE
    days = []
    for v in values:
        try:
            x = float(v)
        except ValueError:
            continue
        if lo <= x < hi:
            days.append(x)
    n = len(values)
    if len(days) < _EXCEL_SHARE * n:
        return None
    timed = sum(1 for x in days if x != int(x))
    if timed < _EXCEL_TIME_SHARE * len(days):
        return None
    what = "Excel serial day numbers of 1970-2099 with a time of day"
    if len(days) == n and timed == n:
        return len(days), f"sure: all {n} sampled values are {what}"
    return len(days), f"likely: {len(days)} of {n} sampled values are {what}"
