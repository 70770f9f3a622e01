"""Starter mapping TOML guessed from a sample of a CAD / 911 export.

:func:`profile_template` reads the header and the first rows of a CSV (any of the
delimiters ``, ; TAB |``, UTF-8 with or without BOM or cp1252, optionally gzipped), a
Parquet file or JSON lines, guesses which source column holds which canonical field, the
timestamp format(s), the grain, the CRS and a first call-category split, and returns the
text of a mapping TOML (see :mod:`dispatch_analytics.ingest.profiles`) for the user to review.
Every guess is a starting point: the generated file says so and lists the source columns
it could not place as commented ``# ? = "COLUMN"`` lines.

The work is split by concern: :mod:`.read` reads the sample rows, :mod:`.formats` guesses
timestamp formats, :mod:`.guess` (with the name tables of :mod:`.synonyms`) places the
columns and :mod:`.render` writes the TOML text.
"""

from __future__ import annotations

import os
import zoneinfo
from pathlib import Path

from .formats import TIMESTAMP_CANDIDATES, guess_formats
from .guess import _guess
from .read import _read_sample
from .render import _render

__all__ = ["TIMESTAMP_CANDIDATES", "guess_formats", "profile_template"]


def _check_timezone(timezone: str) -> None:
    try:
        zoneinfo.ZoneInfo(timezone)
        ok = "/" in timezone or timezone == "UTC"
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"timezone {timezone!r} is not an IANA name such as 'America/New_York'")


def profile_template(path, timezone: str | None = None, sample_rows: int = 2000) -> str:
    """Guess a starter mapping TOML (source profile) from a sample of a source file.

    Reads the header and up to ``sample_rows`` rows of ``path`` and guesses:

    * which column holds each canonical field, from a table of column-name synonyms
      (case, space and punctuation are ignored; "Incident Number", "inc_no",
      "eResponse.03", ...), then from keywords in the names of timestamp columns; a source
      column is used at most once (except NEMSIS ``eTimes.01``, which is both
      ``call_arrived_at`` and ``call_received_at``). Timestamp fields only take columns
      whose values mostly parse as timestamps, coordinate fields only numeric columns, and
      ``location`` a column of ``"(lat, lon)"`` or ``"POINT (lon lat)"`` values;
    * ``timestamp_format``: per timestamp column the candidate format(s) parsing the most
      values (:func:`guess_formats`), their union ordered by how many values they parse;
    * ``grain``: ``"unit"`` when a unit column exists and incident ids repeat, else
      ``"incident"``;
    * ``crs``: ``EPSG:4326`` for degrees, ``EPSG:3857`` (flagged CHECK) for large
      projected numbers;
    * ``delimiter`` and ``encoding`` of a CSV, and a ``[categories]`` split of the sampled
      call types into ems / fire.

    Source columns it could not place are listed as ``# ? = "COLUMN"`` lines. The 2nd
    column called NAME is referred to as ``"NAME#2"``.

    Parameters
    ----------
    path : str or os.PathLike
        A CSV (delimiter ``, ; TAB |``; UTF-8 with or without BOM, or cp1252), a Parquet
        file (``.parquet``/``.pq``) or JSON lines (``.jsonl``/``.ndjson``); CSV and JSON
        lines may be gzipped (``.gz``).
    timezone : str, optional
        The agency's IANA time zone. Default: ``"UTC"`` with a TODO comment.
    sample_rows : int, default 2000
        How many data rows to inspect.

    Returns
    -------
    str
        TOML text. When an incident id column and a call-received time column were found,
        :func:`dispatch_analytics.ingest.profiles.parse_profile` accepts it as is; otherwise the
        missing lines are present as commented ``# TODO`` examples to fill in.

    Raises
    ------
    IngestError
        If the file is missing, empty, unreadable or has no header row.
    ValueError
        If ``timezone`` is not an IANA zone name or ``sample_rows`` is below 1.
    """
    if sample_rows < 1:
        raise ValueError(f"sample_rows must be at least 1, got {sample_rows}")
    if timezone is not None:
        _check_timezone(timezone)
    src = Path(os.fspath(path))
    sample, temporal = _read_sample(src, sample_rows)
    return _render(str(path), src, sample, _guess(sample, temporal), timezone)
