"""Units: each unit's home station (where the travel model starts it) and type.

Stored under the store root as ``spatial/units.parquet`` (``unit_id, station_id, unit_type,
staffing, source``), written atomically under the spatial lock; loading or deriving units
replaces the previous set. The ``units`` view (see
:func:`dispatch_analytics.store.spatial_tables.spatial_view_sql`) reads it.

Two ways in:

* :func:`load_units`: a unit list (CSV, TSV, Parquet or Excel) with ``unit_id``,
  ``station_id`` (the home station), ``unit_type`` and optionally ``staffing``;
* :func:`derive_units`: a rule over the unit ids seen in ``responses``: a regular expression
  whose first group is the station (``(\\d+)$`` on "E05" gives "05"), optionally zero-padded
  and prefixed; or, for exports whose ``station_id`` is the unit's home station (not SFFD's,
  whose ``Station Area`` is the incident's), the unit's most frequent ``station_id``.

A unit whose station is not among the loaded stations is stored but listed
(:attr:`UnitReport.unknown_station`); a unit the rule cannot place is listed and not stored.
Nothing is guessed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ..errors import IngestError, StoreError, UnitError
from ..store.crash import crash_point
from ..store.spatial_tables import atomic_write, init_spatial, spatial_lock, units_path
from .validate import listing

__all__ = ["UnitError", "UnitReport", "load_units", "derive_units", "read_units", "UNIT_COLUMNS"]

#: Columns of a unit list (``staffing`` is optional).
UNIT_COLUMNS: tuple[str, ...] = ("unit_id", "station_id", "unit_type", "staffing")
_SCHEMA = {
    "unit_id": pl.String,
    "station_id": pl.String,
    "unit_type": pl.String,
    "staffing": pl.Int32,
    "source": pl.String,
}


@dataclass
class UnitReport:
    """What :func:`load_units` / :func:`derive_units` stored.

    Attributes
    ----------
    source : str
        The file read, or the rule applied.
    n_units : int
        Units stored.
    station_ids : list of str
        The distinct home stations stored.
    unknown_station : list of str
        Units stored whose station is not among the loaded stations (``"E51 (51)"``).
    without_station : list of str
        Units not stored because the rule gives them no station (derive only).
    """

    source: str
    n_units: int
    station_ids: list[str] = field(default_factory=list)
    unknown_station: list[str] = field(default_factory=list)
    without_station: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A few human-readable lines (what the CLI prints)."""
        lines = [
            f"{self.n_units} units from {self.source}, home stations: "
            f"{listing(self.station_ids) or '(none)'}"
        ]
        if self.unknown_station:
            lines.append(
                f"{len(self.unknown_station)} units whose station is not loaded (not used by "
                "the travel model until `dispatch stations load` has it): "
                + listing(self.unknown_station)
            )
        if self.without_station:
            lines.append(
                f"{len(self.without_station)} units the rule gives no station (not stored; "
                "add them with `dispatch units load`): " + listing(self.without_station)
            )
        return "\n".join(lines)


def _read_table(path: Path, sheet: str | None) -> pl.DataFrame:
    """A unit list as text columns (CSV / TSV / Parquet / Excel)."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise IngestError(f"{path}: no such file")
    try:
        if suffix in (".csv", ".tsv", ".txt"):
            sep = "\t" if suffix == ".tsv" else ","
            return pl.read_csv(path, separator=sep, infer_schema=False, encoding="utf8-lossy")
        if suffix == ".parquet":
            df = pl.read_parquet(path)
        elif suffix in (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"):
            df = pl.read_excel(path, sheet_name=sheet) if sheet else pl.read_excel(path)
        else:
            raise IngestError(
                f"{path}: unsupported unit list type {suffix!r}; use CSV, TSV, Parquet or Excel"
            )
    except IngestError:
        raise
    except Exception as exc:
        raise IngestError(f"cannot read {path}: {exc}") from exc
    return df.select(pl.all().cast(pl.String))


def _text(s: pl.Series) -> pl.Series:
    return s.cast(pl.String).str.strip_chars().replace("", None)


def _validate_list(df: pl.DataFrame, path: Path, problems: list[str]) -> pl.DataFrame | None:
    """The unit list's columns picked (case-insensitive) and checked; None when unusable."""
    low = {c.lower().strip(): c for c in reversed(df.columns)}
    missing = [c for c in UNIT_COLUMNS[:3] if c not in low]
    if missing:
        problems.append(
            f"{path} lacks the column(s) {', '.join(f'`{c}`' for c in missing)}; a unit list "
            f"needs unit_id, station_id, unit_type (and optionally staffing); its columns: "
            f"{', '.join(df.columns) or '(none)'}"
        )
        return None
    if df.height == 0:
        problems.append(f"{path} has no rows")
        return None
    cols = {c: _text(df[low[c]]) for c in UNIT_COLUMNS if c in low}
    rows = [str(i + 2) for i in range(df.height)]  # 1 = the header line
    ids, stations = cols["unit_id"], cols["station_id"]
    blank = [rows[i] for i in ids.is_null().arg_true().to_list()]
    if blank:
        problems.append(f"blank `unit_id` on line(s) {listing(blank)}; every unit needs an id")
    dups = ids.drop_nulls().filter(ids.drop_nulls().is_duplicated()).unique().sort().to_list()
    if dups:
        problems.append(f"duplicate `unit_id` values: {listing(dups)}; ids must be unique")
    nost = [
        f"{ids[i] or 'line ' + rows[i]}"
        for i in (stations.is_null() & ids.is_not_null()).arg_true().to_list()
    ]
    if nost:
        problems.append(
            f"units with no `station_id`: {listing(nost)}; give each unit its home station "
            "(or leave the unit out of the list)"
        )
    staffing = pl.Series("staffing", [None] * df.height, dtype=pl.Int32)
    if "staffing" in cols:
        raw = cols["staffing"]
        staffing = raw.cast(pl.Int32, strict=False)
        bad = (raw.is_not_null() & (staffing.is_null() | (staffing < 0))).arg_true().to_list()
        if bad:
            problems.append(
                "`staffing` must be a whole number of staff >= 0; not on "
                + listing(f"{ids[i]} ({raw[i]!r})" for i in bad)
            )
    return pl.DataFrame(
        {
            "unit_id": ids,
            "station_id": stations,
            "unit_type": cols["unit_type"],
            "staffing": staffing,
        }
    )


def _known_stations(root) -> set[str] | None:
    """The loaded station ids (None when no stations are loaded)."""
    from .stations import read_stations

    ids = set(read_stations(root)["station_id"].astype(str).tolist())
    return ids or None


def _store_units(root, units: pl.DataFrame, source: str) -> UnitReport:
    """Write the units atomically; the report with units whose station is not loaded."""
    units = units.with_columns(pl.lit(source).alias("source")).select(
        [pl.col(c).cast(t) for c, t in _SCHEMA.items()]
    )
    with spatial_lock(root):
        crash_point("units.locked")
        init_spatial(root)
        atomic_write(units_path(root), units.write_parquet, "units.file")
    known = _known_stations(root)
    unknown = []
    if known is not None:
        unknown = [
            f"{u} ({s})"
            for u, s in units.select("unit_id", "station_id").iter_rows()
            if s not in known
        ]
    return UnitReport(
        source=source,
        n_units=units.height,
        station_ids=sorted(units["station_id"].unique().to_list()),
        unknown_station=unknown,
    )


def load_units(
    root: str | os.PathLike, path: str | os.PathLike, sheet: str | None = None
) -> UnitReport:
    """Load (replace) the units of the store from a unit list.

    Parameters
    ----------
    root : path
        The store root (``Store.root``).
    path : path
        CSV, TSV, Parquet or Excel (``.xlsx``) with the columns ``unit_id``, ``station_id``
        (the unit's home station, matching ``stations.station_id``), ``unit_type`` and
        optionally ``staffing`` (staff on the unit); names are matched ignoring case.
    sheet : str, optional
        The Excel sheet (default: the first).

    Returns
    -------
    UnitReport
        With the units whose station is not loaded listed (stored, never guessed).

    Raises
    ------
    UnitError
        A column is missing, a unit id is blank or repeated, a unit has no station, a
        staffing value is not a whole number; every problem is listed.
    IngestError
        The file cannot be read.

    Examples
    --------
    >>> load_units(store.root, "units.csv")  # doctest: +SKIP
    """
    p = Path(path)
    problems: list[str] = []
    units = _validate_list(_read_table(p, sheet), p, problems)
    if problems or units is None:
        raise UnitError(problems, f"cannot load units from {path}")
    return _store_units(root, units, str(path))


def _seen_units(root) -> pl.DataFrame:
    """Distinct unit ids of ``responses`` with their most frequent type and station_id."""
    from ..store import Store

    try:
        store = Store(root, create=False)
    except StoreError:
        raise UnitError(
            f"no store in {root}; ingest calls first (`dispatch ingest FILE --profile NAME`)"
        ) from None
    df = store.sql(
        "select unit_id, mode(unit_type) as unit_type, mode(station_id) as station_id "
        "from responses where unit_id is not null group by unit_id order by unit_id"
    )
    if df.height == 0:
        raise UnitError(
            "no unit ids in `responses`; ingest a unit-grain export first, or load a unit list "
            "with `dispatch units load FILE`"
        )
    return df


def _check_rule(regex, zero_pad, from_responses) -> re.Pattern | None:
    problems = []
    rx = None
    if (regex is None) == (not from_responses):
        problems.append(
            "give exactly one rule: `regex` (e.g. '(\\d+)$') or `from_responses`; "
            "they are alternatives"
        )
    if regex is not None:
        try:
            rx = re.compile(regex)
        except re.error as exc:
            problems.append(f"`regex` {regex!r} is not a regular expression ({exc}); fix it")
    if zero_pad is not None and (
        isinstance(zero_pad, bool) or not isinstance(zero_pad, int) or not 1 <= zero_pad <= 32
    ):
        problems.append(f"`zero_pad` must be an integer from 1 to 32, got {zero_pad!r}")
    if problems:
        raise UnitError(problems, "cannot derive units")
    return rx


def _apply_rule(unit_id: str, rx: re.Pattern, zero_pad: int | None, prefix: str) -> str | None:
    m = rx.search(unit_id)
    if m is None:
        return None
    v = m.group(1) if rx.groups else m.group(0)
    if not v:
        return None
    if zero_pad and v.isdigit():
        v = v.zfill(zero_pad)
    return prefix + v


def derive_units(
    root: str | os.PathLike,
    regex: str | None = None,
    zero_pad: int | None = None,
    prefix: str = "",
    from_responses: bool = False,
) -> UnitReport:
    """Derive (replace) the units of the store from the unit ids seen in ``responses``.

    Parameters
    ----------
    root : path
        The store root.
    regex : str, optional
        A regular expression searched in each unit id; its first group (else the whole
        match) is the home station, e.g. ``r"(\\d+)$"`` turns "E05" into "05" and
        ``r"^[ET](\\d+)$"`` places only engines and trucks. Units it does not match are
        listed and not stored.
    zero_pad : int, optional
        Left-pad all-digit stations with zeros to this width ("5" -> "05").
    prefix : str
        Text put before the station ("S" + "01" -> "S01").
    from_responses : bool
        Instead of a regex: the unit's most frequent ``responses.station_id``. Only right
        for exports whose ``station_id`` is the unit's home station.

    Returns
    -------
    UnitReport
        ``without_station`` lists the units the rule cannot place; ``unknown_station`` the
        stored units whose station is not loaded.

    Raises
    ------
    UnitError
        No rule or both, an invalid regex or zero_pad, no units in the store, or the rule
        places no unit at all.

    Examples
    --------
    >>> derive_units(store.root, regex=r"^[ET](\\d+)$", zero_pad=2)  # doctest: +SKIP
    """
    rx = _check_rule(regex, zero_pad, from_responses)
    seen = _seen_units(root)
    if rx is not None:
        stations = [_apply_rule(u, rx, zero_pad, prefix) for u in seen["unit_id"].to_list()]
        seen = seen.with_columns(pl.Series("station_id", stations, dtype=pl.String))
        source = f"rule regex {regex!r}" + (f", zero-pad {zero_pad}" if zero_pad else "")
        source += f", prefix {prefix!r}" if prefix else ""
    else:
        source = "rule: most frequent responses.station_id"
    placed = seen.filter(pl.col("station_id").is_not_null())
    without = seen.filter(pl.col("station_id").is_null())["unit_id"].to_list()
    if placed.height == 0:
        raise UnitError(
            f"the {source} gives no station to any of the {seen.height} unit ids "
            f"(e.g. {listing(seen['unit_id'].head(5).to_list())}); change the rule"
        )
    rep = _store_units(
        root,
        placed.select("unit_id", "station_id", "unit_type").with_columns(
            pl.lit(None, pl.Int32).alias("staffing")
        ),
        source,
    )
    rep.without_station = without
    return rep


def read_units(root: str | os.PathLike) -> pl.DataFrame:
    """The stored units (an empty frame when none are loaded).

    Parameters
    ----------
    root : path
        The store root.

    Returns
    -------
    polars.DataFrame
        Columns ``unit_id, station_id, unit_type, staffing, source``.
    """
    p = units_path(root)
    if not p.is_file():
        return pl.DataFrame(schema=_SCHEMA)
    return pl.read_parquet(p).select([pl.col(c).cast(t) for c, t in _SCHEMA.items()])
