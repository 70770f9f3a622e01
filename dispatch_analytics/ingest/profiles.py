"""Source profiles: how one CAD / 911 export maps onto the canonical schema.

A profile is a TOML file (see README, "Mapping format"). Built-in profiles live in
``dispatch_analytics/profiles/*.toml``; ``load_profile`` accepts a built-in name or a path.
Validation collects every problem and raises one :class:`ProfileError`.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
import zoneinfo
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..errors import ProfileError
from ..schema.fields import (
    CANONICAL_FIELDS,
    CATEGORIES,
    COORD_FIELDS,
    ID_FIELDS,
    RESPONSE_STAGES,
    STAGE_ORDER,
    TEXT_FIELDS,
    TIME_FIELDS,
)
from .profile_tables import (
    EXCEL_SERIAL,
    _as_list,
    _categories_table,
    _formats_tables,
    _unknown,
    _validation_table,
    format_problem,
)

__all__ = [
    "ID_FIELDS",
    "TEXT_FIELDS",
    "TIME_FIELDS",
    "STAGE_ORDER",
    "RESPONSE_STAGES",
    "COORD_FIELDS",
    "CANONICAL_FIELDS",
    "CATEGORIES",
    "SourceProfile",
    "load_profile",
    "parse_profile",
    "builtin_profiles",
    "format_problem",
    "EXCEL_SERIAL",
]

_DEFAULT_NULLS = ("", "NULL", "null", "NA", "N/A", "None")
_CRS_RE = re.compile(r"^[A-Za-z_]+:\w+$")


@dataclass(frozen=True)
class SourceProfile:
    """A parsed, validated source profile.

    Attributes
    ----------
    name : str
        Profile name, recorded on every stored row (``profile`` column).
    agency : str or None
        ``[source] agency``: the agency of every row (when no ``agency`` column is mapped), or
        the default for rows whose ``agency`` column is blank. See :meth:`default_agency`.
    grain : {"unit", "incident"}
        One row per unit per incident, or one row per incident (first-unit times).
    timezone : str
        IANA zone in which local (offset-less) times are read.
    timestamp_formats : tuple of str
        strftime formats tried in order for every time field.
    field_formats : dict
        Per-field format lists that replace ``timestamp_formats`` for that field.
    crs : str
        CRS of the coordinates; projected coordinates are x (longitude) / y (latitude).
    columns : dict
        canonical field -> source column (``"NAME#2"`` = second column called NAME).
    constants : dict
        canonical field -> constant text value.
    categories : dict
        category -> tuple of case-insensitive glob patterns on ``call_type``.
    """

    name: str
    agency: str | None = None
    grain: str = "unit"
    timezone: str = "UTC"
    timestamp_formats: tuple[str, ...] = ("%Y-%m-%d %H:%M:%S",)
    field_formats: dict[str, tuple[str, ...]] = field(default_factory=dict)
    crs: str = "EPSG:4326"
    delimiter: str | None = None
    encoding: str = "auto"
    sheet: str | None = None
    location_order: str = "lat,lon"
    null_values: tuple[str, ...] = _DEFAULT_NULLS
    columns: dict[str, str] = field(default_factory=dict)
    #: time field -> (date column, time column): ``call_received_at = ["DATE", "TIME"]``
    split_columns: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: ``incident_id = { hash = ["COL_A", "COL_B"] }``: the columns an id is derived from
    id_hash: tuple[str, ...] = ()
    #: status logs (``grain = "event"``): CAD status code -> canonical stage
    statuses: dict[str, str] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    max_interval_s: float = 21600.0
    max_span_s: float = 172800.0
    stage_order: str = "all"
    on_stage_error: str = "exclude"
    require_coordinates: bool | None = None
    bbox: tuple[float, float, float, float] | None = None
    description: str = ""
    path: str | None = None

    # ---------------------------------------------------------------- helpers
    def formats_for(self, field_name: str) -> tuple[str, ...]:
        """The timestamp formats tried for ``field_name``."""
        return self.field_formats.get(field_name, self.timestamp_formats)

    @property
    def default_agency(self) -> str | None:
        """The agency of rows that carry none: ``[source] agency``, else ``[constants] agency``,
        else (no ``agency`` column mapped either) the profile name; None when a mapped
        ``agency`` column must give it (a blank cell is then a reject)."""
        if self.agency is not None:
            return self.agency
        if "agency" in self.constants:
            return self.constants["agency"]
        if "agency" in self.columns:
            return None
        return self.name

    @property
    def mapped_fields(self) -> set[str]:
        """Canonical fields given by a column (or two, or a hash of several) or a constant."""
        derived = {"incident_id"} if self.id_hash else set()
        return set(self.columns) | set(self.constants) | set(self.split_columns) | derived

    @property
    def source_columns(self) -> dict[str, list[str]]:
        """Every source column the profile reads, per canonical field (the file must have
        them all)."""
        out = {f: [c] for f, c in self.columns.items()}
        out.update({f: list(cols) for f, cols in self.split_columns.items()})
        if self.id_hash:
            out["incident_id"] = list(self.id_hash)
        return out

    @property
    def time_fields(self) -> list[str]:
        """The mapped time fields, in stage order."""
        return [f for f in STAGE_ORDER if f in self.columns or f in self.split_columns]

    @property
    def has_coordinates(self) -> bool:
        """True when the profile maps latitude/longitude or a location column."""
        return "location" in self.columns or {"latitude", "longitude"} <= self.mapped_fields

    @property
    def coordinates_required(self) -> bool:
        """Rows without valid coordinates are rejected when this is true
        (``require_coordinates = true``); otherwise they are kept as unlocated (flagged)."""
        return bool(self.require_coordinates) and self.has_coordinates

    @property
    def is_geographic(self) -> bool:
        """True when coordinates are longitude / latitude degrees (WGS84)."""
        return self.crs.upper() in {"EPSG:4326", "OGC:CRS84", "CRS84"}

    def category_of(self, call_type: str | None) -> str:
        """The call category for a call type (first matching rule wins; else 'other')."""
        if call_type is None:
            return "other"
        low = call_type.lower()
        for cat, patterns in self.categories.items():
            for pat in patterns:
                if fnmatch.fnmatchcase(low, pat.lower()):
                    return cat
        return "other"


def builtin_profiles() -> dict[str, Path]:
    """Built-in profile names and their TOML paths."""
    root = resources.files("dispatch_analytics.ingest") / "builtin_profiles"
    return {Path(str(p)).stem: Path(str(p)) for p in root.iterdir() if str(p).endswith(".toml")}


def load_profile(name_or_path: str | Path) -> SourceProfile:
    """Load a built-in profile by name, or a mapping TOML by path.

    Parameters
    ----------
    name_or_path : str or Path
        ``"sffd"``, ``"nyc_ems"``, ``"nemsis"`` or a path to a ``.toml`` file.

    Returns
    -------
    SourceProfile

    Raises
    ------
    ProfileError
        If the name is unknown, the file cannot be read, or the mapping is invalid.
    """
    builtins = builtin_profiles()
    key = str(name_or_path)
    if key in builtins:
        path = builtins[key]
    else:
        path = Path(key)
        if not path.exists():
            hint = ", ".join(sorted(builtins))
            raise ProfileError(
                f"`profile` {key!r} is neither a built-in profile ({hint}) nor an existing "
                "TOML file; run `dispatch profiles` to list them or "
                "`dispatch profile-template FILE` to start one"
            )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"cannot read {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path} is not valid TOML: {exc}") from exc
    default_name = path.stem
    return parse_profile(data, name=default_name, path=str(path))


_KNOWN_TABLES = {
    "source",
    "columns",
    "constants",
    "formats",
    "categories",
    "validation",
    "statuses",
}
_KNOWN_SOURCE = {
    "name",
    "agency",
    "description",
    "grain",
    "timezone",
    "timestamp_format",
    "crs",
    "delimiter",
    "encoding",
    "sheet",
    "location_order",
    "null_values",
}
_GEOGRAPHIC = ("EPSG:4326", "OGC:CRS84", "CRS84")


def parse_profile(data: dict, name: str = "custom", path: str | None = None) -> SourceProfile:
    """Validate a mapping dictionary (the parsed TOML) and build a :class:`SourceProfile`.

    Every problem is collected; one :class:`ProfileError` lists them all.

    Parameters
    ----------
    data : dict
        The parsed TOML: tables ``[source]``, ``[columns]``, ``[constants]``,
        ``[formats]``, ``[categories]``, ``[validation]``.
    name : str
        The profile name when ``[source]`` gives none.
    path : str, optional
        The file the mapping came from, named in the error and kept on the profile.

    Returns
    -------
    SourceProfile

    Raises
    ------
    ProfileError
        Listing every problem found.
    """
    problems: list[str] = []
    for key in data:
        if key not in _KNOWN_TABLES:
            problems.append(
                f"unknown table `[{key}]`; expected one of {', '.join(sorted(_KNOWN_TABLES))}"
            )
    src = dict(data.get("source", {}))
    cols = dict(data.get("columns", {}))
    consts = dict(data.get("constants", {}))
    # the validators run in this order so problems are listed as the tables are read
    source = _source_table(src, name, problems)
    times = _formats_tables(src, dict(data.get("formats", {})), problems)
    reading = _reading_options(src, problems)
    _mapping_tables(cols, consts, source["grain"], reading["crs"], source["agency"], problems)
    categories = _categories_table(
        dict(data.get("categories", {})), set(cols) | set(consts), problems
    )
    validation = _validation_table(dict(data.get("validation", {})), problems)
    statuses = _statuses_table(dict(data.get("statuses", {})), source["grain"], problems)
    if problems:
        raise ProfileError(problems, source=path)
    return SourceProfile(
        **source,
        **times,
        **reading,
        columns={k: str(v) for k, v in cols.items() if isinstance(v, str)},
        split_columns={k: (str(v[0]), str(v[1])) for k, v in cols.items() if isinstance(v, list)},
        id_hash=tuple(str(c) for c in cols["incident_id"]["hash"])
        if isinstance(cols.get("incident_id"), dict)
        else (),
        constants={k: str(v) for k, v in consts.items()},
        categories=categories,
        statuses=statuses,
        **validation,
        path=path,
    )


def _statuses_table(table: dict, grain: str, problems: list[str]) -> dict[str, str]:
    """``[statuses]``: CAD status code -> canonical time field (status logs only)."""
    if grain != "event":
        if table:
            problems.append("[statuses] is only for status logs; set grain = 'event'")
        return {}
    if not table:
        problems.append(
            "`grain` is 'event' but [statuses] is empty; map the CAD's codes to stages, e.g. "
            'DISP = "dispatched_at", ENRT = "enroute_at", ONSC = "on_scene_at"'
        )
    out: dict[str, str] = {}
    for code, stage in table.items():
        if stage not in TIME_FIELDS:
            problems.append(
                f"`statuses.{code}` {stage!r} is not a stage; use one of {', '.join(TIME_FIELDS)}"
            )
        else:
            out[str(code).strip()] = stage
    if out and "dispatched_at" not in out.values():
        problems.append("[statuses] maps no code to `dispatched_at`; assignments start at dispatch")
    return out


def _source_table(src: dict, name: str, problems: list[str]) -> dict:
    """``[source]``: unknown keys, name, description, grain and timezone."""
    for key in src:
        if key not in _KNOWN_SOURCE:
            problems.append(_unknown("[source]", key, _KNOWN_SOURCE))
    grain = src.get("grain", "unit")
    if grain not in ("unit", "incident", "event"):
        problems.append(
            f"`grain` {grain!r} must be 'unit', 'incident' or 'event' (a status log: one row per "
            "status change)"
        )
    tz = src.get("timezone")
    if tz is None:
        problems.append("`timezone` is missing; add e.g. timezone = 'America/New_York' to [source]")
    else:
        try:
            zoneinfo.ZoneInfo(str(tz))
            if "/" not in str(tz) and str(tz) != "UTC":
                raise zoneinfo.ZoneInfoNotFoundError
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            problems.append(f"`timezone` {tz!r} is not an IANA name; use e.g. 'America/New_York'")
    agency = src.get("agency")
    if agency is not None and (not isinstance(agency, str) or not agency.strip()):
        problems.append(f"`agency` {agency!r} must be a non-blank name, e.g. agency = 'SFFD'")
        agency = None
    return {
        "name": str(src.get("name", name)),
        "agency": agency.strip() if isinstance(agency, str) else None,
        "description": str(src.get("description", "")),
        "grain": grain,
        "timezone": str(tz),
    }


def _reading_options(src: dict, problems: list[str]) -> dict:
    """``[source]``: how the file is read (crs, delimiter, encoding, location_order,
    null_values)."""
    crs = str(src.get("crs", "EPSG:4326")).strip()
    if _CRS_RE.match(crs):
        crs = crs.upper()  # AUTHORITY:CODE (EPSG, ESRI, IGNF, ...): case does not matter
    try:
        import pyproj

        pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError:
        problems.append(
            f"`crs` {crs!r} is not known to PROJ; give an authority code such as 'EPSG:2227' or "
            "'ESRI:102643' (US survey feet), or a WKT / PROJ string"
        )

    delimiter = src.get("delimiter")
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
        problems.append(f"`delimiter` {delimiter!r} must be one character, e.g. ',' or '\\t'")

    encoding = str(src.get("encoding", "auto")).lower().replace("_", "-")
    if encoding in ("utf8", "utf-8-sig"):
        encoding = "utf-8"
    if encoding not in ("auto", "utf-8", "cp1252", "latin-1", "iso-8859-1", "windows-1252"):
        problems.append(f"`encoding` {encoding!r} must be auto, utf-8, cp1252 or latin-1")
    encoding = {"iso-8859-1": "latin-1", "windows-1252": "cp1252"}.get(encoding, encoding)

    order = str(src.get("location_order", "lat,lon")).replace(" ", "")
    if order not in ("lat,lon", "lon,lat"):
        problems.append(f"`location_order` {order!r} must be 'lat,lon' or 'lon,lat'")

    nulls = tuple(str(v) for v in _as_list(src.get("null_values", list(_DEFAULT_NULLS))))
    sheet = src.get("sheet")
    if sheet is not None and (not isinstance(sheet, str) or not sheet):
        problems.append(
            f"`sheet` {sheet!r} must be the name of an Excel sheet, e.g. sheet = 'Calls'"
        )
        sheet = None
    return {
        "sheet": sheet,
        "crs": crs,
        "delimiter": delimiter,
        "encoding": encoding,
        "location_order": order,
        "null_values": nulls,
    }


def _mapping_tables(
    cols: dict, consts: dict, grain: str, crs: str, src_agency: str | None, problems: list[str]
) -> None:
    """``[columns]`` and ``[constants]``: known fields, one source each, the required fields
    mapped, coordinates mapped one way."""
    for fld, col in cols.items():
        if fld not in CANONICAL_FIELDS:
            problems.append(_unknown("[columns]", fld, CANONICAL_FIELDS))
        elif isinstance(col, list):
            if (
                fld not in TIME_FIELDS
                or len(col) != 2
                or not all(isinstance(c, str) and c for c in col)
            ):
                problems.append(
                    f"`columns.{fld}` {col!r}: a list maps a time field to a date column and a "
                    f'time column, e.g. {fld} = ["CALL_DATE", "CALL_TIME"]'
                    if fld in TIME_FIELDS
                    else f"`columns.{fld}` must be one source column name (only time fields "
                    "take a [date, time] pair)"
                )
        elif isinstance(col, dict):
            hashed = col.get("hash")
            if fld != "incident_id" or set(col) != {"hash"}:
                problems.append(
                    f"`columns.{fld}` {col!r}: only incident_id can be derived, as "
                    'incident_id = { hash = ["COL_A", "COL_B"] }'
                )
            elif (
                not isinstance(hashed, list)
                or not hashed
                or not all(isinstance(c, str) and c for c in hashed)
            ):
                problems.append(
                    f"`columns.incident_id.hash` {hashed!r} must be a list of source column "
                    'names, e.g. hash = ["CALL_DATE", "CALL_TIME", "ADDRESS"]'
                )
        elif not isinstance(col, str) or not col:
            problems.append(f"`columns.{fld}` must be a source column name (text), got {col!r}")
    for fld, value in consts.items():
        if fld not in CANONICAL_FIELDS or fld == "location":
            problems.append(_unknown("[constants]", fld, CANONICAL_FIELDS))
        elif fld in cols:
            problems.append(f"`{fld}` is given both as a column and as a constant; keep one")
        elif not isinstance(value, (str, int, float)):
            problems.append(f"`constants.{fld}` must be text or a number, got {value!r}")
    mapped = set(cols) | set(consts)
    if "agency" in consts and src_agency is not None:
        problems.append(
            "`agency` is given both in [source] and in [constants]; keep `[source] agency`"
        )
    if "incident_id" not in mapped:
        problems.append("`incident_id` is not mapped; add incident_id = 'YOUR_COLUMN' to [columns]")
    if "call_received_at" not in cols and grain != "event":
        problems.append(
            "`call_received_at` is not mapped; add call_received_at = 'YOUR_COLUMN' to [columns]"
        )
    if grain in ("unit", "event") and "unit_id" not in mapped:
        problems.append(
            f"`unit_id` is not mapped but `grain` is {grain!r}; map it or set grain = 'incident'"
        )
    for fld in ("status", "status_at"):
        if grain == "event" and fld not in cols:
            problems.append(
                f"`{fld}` is not mapped but `grain` is 'event'; add {fld} = 'YOUR_COLUMN' to "
                "[columns] (the status code and the time it was set)"
            )
        if grain != "event" and fld in mapped:
            problems.append(f"`{fld}` is only for status logs; set grain = 'event' or remove it")
    if "location" in cols and ({"latitude", "longitude"} & mapped):
        problems.append("map either `location` or `latitude`/`longitude`, not both")
    if len({"latitude", "longitude"} & mapped) == 1:
        problems.append("map both `latitude` and `longitude` (or neither)")
    if "location" in cols and crs not in _GEOGRAPHIC:
        problems.append("`location` text columns are read as WGS84; set crs = 'EPSG:4326'")
