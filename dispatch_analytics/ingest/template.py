"""Starter mapping TOML guessed from a sample of a CAD / 911 export.

:func:`profile_template` reads the header and the first rows of a CSV (any of the
delimiters ``, ; TAB |``, UTF-8 with or without BOM or cp1252, optionally gzipped), a
Parquet file or JSON lines, guesses which source column holds which canonical field, the
timestamp format(s), the grain, the CRS and a first call-category split, and returns the
text of a mapping TOML (see :mod:`dispatch_analytics.profiles`) for the user to review.
Every guess is a starting point: the generated file says so and lists the source columns
it could not place as commented ``# ? = "COLUMN"`` lines.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import math
import os
import re
import textwrap
import zlib
import zoneinfo
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ..errors import IngestError
from ..schema.fields import TIME_FIELDS

__all__ = ["TIMESTAMP_CANDIDATES", "guess_formats", "profile_template"]

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
_DELIMITERS = (",", ";", "\t", "|")
_CHUNK = 1 << 16
_MAX_BYTES = 64 * 1024 * 1024
_MAX_CATEGORY_VALUES = 40

# --------------------------------------------------------------------------- synonyms
#: canonical field -> source column names (compared lower-case, punctuation removed), in
#: order of preference. Fields are matched in this order; a column is used at most once
#: (except NEMSIS eTimes.01, which gives both call_arrived_at and call_received_at).
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "incident_id": (
        "incident number",
        "incident_id",
        "incident no",
        "incident num",
        "inc_no",
        "inc_num",
        "cad_incident_id",
        "cad incident number",
        "cad_no",
        "cad number",
        "cad_num",
        "event number",
        "event_id",
        "event no",
        "event num",
        "master incident number",
        "incident key",
        "eResponse.03",
        "call number",
        "call_id",
        "call no",
        "incident",
    ),
    "unit_id": (
        "unit",
        "unit id",
        "unit_id",
        "unit name",
        "unit number",
        "unit no",
        "unit code",
        "apparatus",
        "apparatus id",
        "vehicle",
        "vehicle id",
        "resource",
        "resource id",
        "radio name",
        "eResponse.13",
    ),
    "call_arrived_at": ("eTimes.01", "psap call", "call arrived", "t_ring", "ring time"),
    "call_received_at": (
        "eTimes.01",
        "received dttm",
        "incident_datetime",
        "call received",
        "call received time",
        "time call received",
        "t_rcvd",
        "time received",
        "received",
        "received time",
        "received datetime",
        "datetime received",
        "call datetime",
        "call time",
        "alarm dttm",
        "alarm datetime",
        "alarm time",
        "incident datetime",
    ),
    "call_answered_at": ("call answered", "answered", "answer time", "answer dttm", "t_answ"),
    "call_entered_at": (
        "entry dttm",
        "call entered",
        "entered",
        "entry time",
        "time entered",
        "t_entry",
        "entry datetime",
    ),
    "dispatched_at": (
        "dispatch dttm",
        "first_assignment_datetime",
        "t_disp",
        "dispatched",
        "dispatch time",
        "time dispatched",
        "dispatch datetime",
        "dispatch",
        "assigned",
        "assigned time",
        "eTimes.03",
    ),
    "acknowledged_at": ("acknowledged", "ack time", "t_ack", "eTimes.04"),
    "enroute_at": (
        "response dttm",
        "enroute",
        "en route",
        "enroute time",
        "enroute dttm",
        "time enroute",
        "first_activation_datetime",
        "t_enrt",
        "responding",
        "eTimes.05",
    ),
    "staged_at": ("staged", "staged time", "t_stage"),
    "on_scene_at": (
        "on scene dttm",
        "arrived",
        "arrival",
        "arrival time",
        "on scene",
        "on scene time",
        "first_on_scene_datetime",
        "t_arrv",
        "arrive time",
        "time arrived",
        "eTimes.06",
    ),
    "at_patient_at": ("at patient", "at patient time", "t_atpt", "eTimes.07"),
    "transport_at": (
        "transport dttm",
        "transport",
        "transporting",
        "first_to_hosp_datetime",
        "t_trns",
        "depart scene",
        "left scene",
        "eTimes.09",
    ),
    "at_hospital_at": (
        "hospital dttm",
        "at hospital",
        "arrived hospital",
        "hospital arrival",
        "first_hosp_arrival_datetime",
        "t_hosp",
        "eTimes.11",
    ),
    "transfer_at": ("transfer", "transfer of care", "transfer time", "eTimes.12"),
    "cleared_at": (
        "available dttm",
        "cleared",
        "clear",
        "clear time",
        "available",
        "incident_close_datetime",
        "t_clr",
        "closed",
        "close time",
        "in service",
        "eTimes.13",
    ),
    "call_type": (
        "call type",
        "nature",
        "nature code",
        "initial_call_type",
        "problem",
        "incident type",
        "event type",
        "final call type",
        "final_call_type",
        "complaint",
        "eDispatch.01",
        "type",
    ),
    "priority": (
        "priority",
        "initial_severity_level_code",
        "initial priority",
        "priority code",
        "response priority",
        "severity",
        "original priority",
        "final priority",
        "final_severity_level_code",
        "eResponse.23",
    ),
    "unit_type": (
        "unit type",
        "apparatus type",
        "vehicle type",
        "resource type",
        "eResponse.07",
    ),
    "station_id": (
        "station area",
        "station",
        "station_id",
        "station number",
        "first due",
        "first due station",
        "home station",
        "incident_dispatch_area",
        "dispatch area",
    ),
    "zipcode": (
        "zipcode",
        "zip",
        "zip code",
        "zipcode of incident",
        "postal code",
        "postcode",
        "incident zip",
        "eScene.19",
    ),
    "address": (
        "address",
        "incident address",
        "street address",
        "block address",
        "addr",
        "street",
    ),
    "latitude": (
        "latitude",
        "lat",
        "y",
        "gps lat",
        "y coordinate",
        "ycoord",
        "y_coord",
        "incident latitude",
        "point_y",
    ),
    "longitude": (
        "longitude",
        "lon",
        "lng",
        "long",
        "x",
        "gps lon",
        "x coordinate",
        "xcoord",
        "x_coord",
        "incident longitude",
        "point_x",
    ),
    "location": (
        "location",
        "geolocation",
        "geo location",
        "point",
        "coordinates",
        "the_geom",
        "geom",
        "eScene.11",
    ),
}

#: Second pass over unplaced timestamp columns: a name containing one of the keywords.
_TIME_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("call_received_at", ("receiv", "rcvd")),
    ("call_answered_at", ("answer",)),
    ("call_entered_at", ("entry", "entered", "create")),
    ("transport_at", ("transport", "depart", "leftscene", "tohosp")),
    ("at_hospital_at", ("hosp", "destination")),
    ("transfer_at", ("transfer", "xfer")),
    ("at_patient_at", ("patient",)),
    ("dispatched_at", ("dispatch", "assign", "disp")),
    ("acknowledged_at", ("acknowledg",)),
    ("enroute_at", ("enroute", "enrt", "respon", "activat")),
    ("staged_at", ("staged", "staging")),
    ("on_scene_at", ("scene", "arriv", "arrv")),
    ("cleared_at", ("clear", "avail", "close", "inservice", "clr")),
)
#: Last resort for call_received_at: the first unplaced timestamp column named like this.
_RECEIVED_FALLBACK = ("call", "incident", "event", "alarm", "time", "date", "open", "start")
_INCIDENT_RE = re.compile(r"(incident|event|cad|call)(id|num|number|no|nbr|key)")
_UNIT_RE = re.compile(r"(unit|apparatus|vehicle)(id|name|number|no|code|callsign)$")

#: Order of the [columns] lines.
_FIELD_ORDER = (
    ("incident_id", "unit_id")
    + TIME_FIELDS
    + (
        "call_type",
        "priority",
        "unit_type",
        "station_id",
        "address",
        "zipcode",
        "latitude",
        "longitude",
        "location",
    )
)

_NUM = r"[-+]?\d+(?:\.\d+)?"
_PAREN_RE = re.compile(rf"^\(?\s*({_NUM})\s*,\s*({_NUM})\s*\)?$")
_POINT_RE = re.compile(rf"^POINT\s*\(\s*({_NUM})\s+({_NUM})\s*\)$", re.IGNORECASE)

_EMS_RE = re.compile(
    r"\b(?:medic|ems\b|cardiac|heart|breath|respirat|fall|fell\b|sick|unconscious|"
    r"unresponsive|faint|syncope|injur|bleed|hemorrhag|chest|stroke|cva\b|seizure|convuls|"
    r"overdose|poison|diabet|pregnan|childbirth|allerg|abdominal|back pain|pain\b|psych|"
    r"behavio|patient|ambulance|trauma|lift assist|chok|drown|headache|hypotherm|heat\b|"
    r"altered|dizz|weak|nausea|vomit|ill\b|illness|sick|man down|person down|cpr\b|"
    r"assault|stab|gunshot|shot\b|laceration|fracture|diabetic)",
    re.IGNORECASE,
)
_FIRE_RE = re.compile(
    r"\b(?:fire|smoke|alarm|explos|hazmat|haz mat|hazardous|gas leak|gas odor|odor|"
    r"electrical hazard|wires? down|fuel spill|spill|brush|wildland|burning|flame|"
    r"chimney|carbon monoxide|co alarm)",
    re.IGNORECASE,
)


# =========================================================================== formats
def _clean(values) -> list[str]:
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


# =========================================================================== reading
@dataclass
class _Column:
    """One source column and what its sampled values look like."""

    name: str  # as referred to in the profile ("NAME#2" for the 2nd NAME)
    norm: str  # the original name lower-cased with punctuation removed
    values: list[str]  # non-null, stripped sample values
    temporal: bool = False  # already a datetime column (Parquet)
    formats: list[tuple[str, int]] = field(default_factory=list)
    is_time: bool = False
    numbers: list[float] | None = None
    location: str | None = None  # "pair" ("(a, b)") or "point" ("POINT (x y)")

    @property
    def example(self) -> str | None:
        return self.values[0] if self.values else None


@dataclass
class _Sample:
    kind: str  # csv, parquet, jsonl
    names: list[str]  # unique names
    originals: list[str]  # names as in the file
    rows: list[list[str | None]]
    delimiter: str | None = None
    encoding: str | None = None


def _norm(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", name.lower())


def _unique(names: list[str]) -> list[str]:
    counts: Counter[str] = Counter()
    out = []
    for n in names:
        counts[n] += 1
        out.append(n if counts[n] == 1 else f"{n}#{counts[n]}")
    return out


def _kind(path: Path, head: bytes) -> tuple[str, bool]:
    suffixes = [s.lower() for s in path.suffixes]
    gz = head[:2] == b"\x1f\x8b" or (bool(suffixes) and suffixes[-1] in (".gz", ".gzip"))
    if suffixes and suffixes[-1] in (".gz", ".gzip"):
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if head[:4] == b"PAR1" or last in (".parquet", ".pq"):
        return "parquet", False
    if last in (".jsonl", ".ndjson", ".json"):
        return "jsonl", gz
    return "csv", gz


def _read_head(path: Path, gz: bool, max_lines: int) -> tuple[bytes, bool]:
    """The first ``max_lines`` complete lines (bytes) and whether the end of file was reached."""
    buf = bytearray()
    lines = 0
    try:
        with gzip.open(path, "rb") if gz else open(path, "rb") as fh:
            while True:
                chunk = fh.read(_CHUNK)
                if not chunk:
                    return bytes(buf), True
                buf += chunk
                lines += chunk.count(b"\n")
                if lines > max_lines or len(buf) >= _MAX_BYTES:
                    cut = buf.rfind(b"\n")
                    return bytes(buf[: cut + 1] if cut >= 0 else buf), False
    except (OSError, EOFError, zlib.error) as exc:
        raise IngestError(f"cannot read {path}: {exc}") from exc


def _decode(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _records(text: str, delimiter: str):
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"')
    return (r for r in reader if r)


def _sniff_delimiter(text: str) -> str:
    best, best_score = ",", (False, 0.0, 0)
    for delim in _DELIMITERS:
        try:
            rows = list(itertools.islice(_records(text, delim), 60))
        except csv.Error:
            continue
        if not rows:
            continue
        width = len(rows[0])
        consistent = sum(len(r) == width for r in rows) / len(rows)
        score = (width > 1, consistent, width)
        if score > best_score:
            best, best_score = delim, score
    return best


def _looks_like_data(cell: str) -> bool:
    cell = cell.strip()
    if not cell:
        return True
    try:
        float(cell)
        return True
    except ValueError:
        return bool(re.fullmatch(r"[\d/:.\- TZ+APMapm]+", cell)) and any(c.isdigit() for c in cell)


def _read_csv(path: Path, gz: bool, sample_rows: int) -> _Sample:
    data, eof = _read_head(path, gz, sample_rows + 2)
    if not data.strip():
        raise IngestError(f"cannot read {path}: the file is empty")
    text, encoding = _decode(data)
    if not text.strip():
        raise IngestError(f"cannot read {path}: the file is empty")
    delimiter = _sniff_delimiter(text)
    try:
        records = list(itertools.islice(_records(text, delimiter), sample_rows + 1))
    except csv.Error as exc:
        raise IngestError(f"cannot read {path} as CSV: {exc}") from exc
    header = records[0]
    if all(not h.strip() for h in header) or all(_looks_like_data(h) for h in header):
        raise IngestError(
            f"cannot read {path}: no header row (the first row is "
            f"{'empty' if all(not h.strip() for h in header) else 'data'})"
        )
    body = records[1:]
    if not eof and len(body) < sample_rows and body:
        body = body[:-1]  # the last record may have been cut off
    originals = [h.strip() for h in header]
    width = len(originals)
    rows = [(r + [""] * width)[:width] for r in body]
    return _Sample("csv", _unique(originals), originals, rows, delimiter, encoding)


def _json_text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(v, ensure_ascii=False)


def _read_jsonl(path: Path, gz: bool, sample_rows: int) -> _Sample:
    data, _ = _read_head(path, gz, sample_rows + 1)
    if not data.strip():
        raise IngestError(f"cannot read {path}: the file is empty")
    text, encoding = _decode(data)
    objects: list[dict] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            if not objects:
                raise IngestError(f"cannot read {path} as JSON lines: {exc}") from exc
            continue
        if not isinstance(obj, dict):
            raise IngestError(f"cannot read {path} as JSON lines: a line is not a JSON object")
        objects.append(obj)
        if len(objects) >= sample_rows:
            break
    keys: dict[str, None] = {}
    for obj in objects:
        keys.update(dict.fromkeys(obj))
    names = list(keys)
    if not names:
        raise IngestError(f"cannot read {path}: no field names (no header) in the JSON lines")
    rows = [[_json_text(obj.get(k)) for k in names] for obj in objects]
    return _Sample("jsonl", names, names, rows, None, encoding)


def _read_parquet(path: Path, sample_rows: int) -> tuple[_Sample, set[str]]:
    try:
        df = pl.read_parquet(path, n_rows=sample_rows, glob=False)
    except Exception as exc:  # Polars / Arrow raise several kinds for unreadable files
        raise IngestError(f"cannot read {path} as Parquet: {exc}") from exc
    if not df.columns:
        raise IngestError(f"cannot read {path}: the Parquet file has no columns (no header)")
    temporal = {c for c, t in df.schema.items() if t.is_temporal() and t != pl.Duration}
    cols = []
    for name in df.columns:
        s = df[name]
        cols.append([None if v is None else (v if isinstance(v, str) else str(v)) for v in s])
    rows = [list(r) for r in zip(*cols, strict=True)] if cols else []
    return _Sample("parquet", list(df.columns), list(df.columns), rows), temporal


def _read_sample(path: Path, sample_rows: int) -> tuple[_Sample, set[str]]:
    if not path.exists():
        raise IngestError(f"cannot read {path}: no such file")
    if not path.is_file():
        raise IngestError(f"cannot read {path}: not a file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise IngestError(f"cannot read {path}: {exc}") from exc
    if not head:
        raise IngestError(f"cannot read {path}: the file is empty")
    kind, gz = _kind(path, head)
    if kind == "parquet":
        return _read_parquet(path, sample_rows)
    if kind == "jsonl":
        return _read_jsonl(path, gz, sample_rows), set()
    return _read_csv(path, gz, sample_rows), set()


# =========================================================================== analysis
def _analyse(name: str, original: str, raw: list[str | None], temporal: bool) -> _Column:
    col = _Column(name=name, norm=_norm(original), values=_clean(raw), temporal=temporal)
    vals = col.values
    if temporal:
        col.is_time = True
        return col
    if not vals:
        return col
    if sum(":" in v for v in vals) > len(vals) / 2:
        col.formats = _format_cover(vals)
        col.is_time = sum(n for _, n in col.formats) > len(vals) / 2
        if col.is_time:
            return col
    numbers = []
    for v in vals:
        try:
            x = float(v)
        except ValueError:
            continue
        if math.isfinite(x):
            numbers.append(x)
    if len(numbers) >= 0.9 * len(vals):
        col.numbers = numbers
    pairs = sum(bool(_PAREN_RE.match(v)) and "." in v for v in vals)
    points = sum(bool(_POINT_RE.match(v)) for v in vals)
    if pairs + points > len(vals) / 2:
        col.location = "point" if points > pairs else "pair"
    return col


def _compatible(fld: str, col: _Column) -> bool:
    """Whether the values of ``col`` fit canonical field ``fld`` (empty samples fit anything)."""
    if not col.values and not col.temporal:
        return True
    if fld in TIME_FIELDS:
        return col.is_time
    if col.is_time:
        return False
    if fld in ("latitude", "longitude"):
        return col.numbers is not None
    if fld == "location":
        return col.location is not None
    return True


@dataclass
class _Match:
    columns: dict[str, _Column] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)

    def take(self, fld: str, col: _Column, note: str = "") -> None:
        self.columns[fld] = col
        self.used.add(col.name)
        if note:
            self.notes[fld] = note


def _match(cols: list[_Column]) -> _Match:
    m = _Match()
    by_norm: dict[str, list[_Column]] = {}
    for c in cols:
        by_norm.setdefault(c.norm, []).append(c)
    # 1. exact synonyms, field by field in order of preference
    for fld, synonyms in _SYNONYMS.items():
        for syn in synonyms:
            key = _norm(syn)
            hit = next(
                (
                    c
                    for c in by_norm.get(key, [])
                    if (c.name not in m.used or key == "etimes01") and _compatible(fld, c)
                ),
                None,
            )
            if hit is not None:
                m.take(fld, hit)
                break
    free = [c for c in cols if c.name not in m.used]
    # 2. id patterns ("CAD Incident No", "Unit Callsign")
    for fld, rx in (("incident_id", _INCIDENT_RE), ("unit_id", _UNIT_RE)):
        if fld not in m.columns:
            hit = next((c for c in free if rx.search(c.norm) and not c.is_time), None)
            if hit is not None:
                m.take(fld, hit, "guessed from the column name")
                free.remove(hit)
    # 3. timestamp columns by keyword
    for col in [c for c in free if c.is_time]:
        for fld, words in _TIME_KEYWORDS:
            if fld not in m.columns and any(w in col.norm for w in words):
                m.take(fld, col, "guessed from the column name")
                free.remove(col)
                break
    # 4. a location column by its values
    if "location" not in m.columns:
        hit = next((c for c in free if c.location), None)
        if hit is not None:
            m.take("location", hit, "values look like coordinates")
            free.remove(hit)
    # 5. call_received_at: the first remaining timestamp column with a plausible name
    if "call_received_at" not in m.columns:
        hit = next(
            (c for c in free if c.is_time and any(w in c.norm for w in _RECEIVED_FALLBACK)), None
        )
        if hit is not None:
            m.take("call_received_at", hit, "first timestamp column: CHECK")
            free.remove(hit)
    return m


# =========================================================================== TOML text
def _toml_str(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _comment_text(s: str, limit: int = 60) -> str:
    s = _toml_str(s)
    return s if len(s) <= limit else s[: limit - 4] + '..."'


def _line(key: str, value: str, comment: str = "") -> str:
    text = f"{key} = {value}"
    return f"{text}  # {comment}" if comment else text


def _toml_list(values: list[str]) -> str:
    if len(values) == 1:
        return _toml_str(values[0])
    return "[" + ", ".join(_toml_str(v) for v in values) + "]"


def _glob_literal(value: str) -> str:
    """``value`` as a glob pattern matching only itself."""
    return re.sub(r"([\[\]*?])", r"[\1]", value)


def _coord_crs(lat: list[float], lon: list[float]) -> tuple[str, str]:
    lat = [v for v in lat if v != 0]
    lon = [v for v in lon if v != 0]
    if not lat and not lon:
        return "EPSG:4326", "no coordinate values in the sample: CHECK"
    big = max(abs(v) for v in lat + lon)
    if big > 1000:
        return "EPSG:3857", "coordinates look projected: CHECK this code"
    if all(abs(v) <= 90 for v in lat) and all(abs(v) <= 180 for v in lon):
        return "EPSG:4326", "coordinates look like degrees (WGS84)"
    if all(abs(v) <= 90 for v in lon) and all(abs(v) <= 180 for v in lat):
        return "EPSG:4326", "latitude values exceed 90: are latitude/longitude swapped? CHECK"
    return "EPSG:4326", "coordinate values look unusual: CHECK"


def _location_order(col: _Column) -> tuple[str, str]:
    if col.location == "point":
        return "lat,lon", 'values are WKT "POINT (lon lat)"'
    lat_first = lon_first = 0
    for v in col.values:
        hit = _PAREN_RE.match(v)
        if not hit:
            continue
        a, b = abs(float(hit.group(1))), abs(float(hit.group(2)))
        if a <= 90 < b:
            lat_first += 1
        elif b <= 90 < a:
            lon_first += 1
    if lon_first > lat_first:
        return "lon,lat", "first number of the pair is longitude"
    if lat_first:
        return "lat,lon", "first number of the pair is latitude"
    return "lat,lon", "could not tell which number is latitude: CHECK"


def _classify(value: str) -> str:
    if _EMS_RE.search(value):
        return "ems"
    if _FIRE_RE.search(value):
        return "fire"
    return "other"


def _category_lines(col: _Column) -> list[str]:
    counts = Counter(col.values)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ranked[:_MAX_CATEGORY_VALUES]
    groups: dict[str, list[tuple[str, int]]] = {"ems": [], "fire": [], "other": []}
    for value, n in shown:
        groups[_classify(value)].append((value, n))
    lines = [
        "",
        "[categories]",
        f"# Guessed from the {len(counts)} distinct `call_type` value(s) in the sample, most "
        "frequent first.",
        '# Patterns are case-insensitive globs ("*Fire*" works too); unmatched types are "other".',
    ]
    for cat in ("ems", "fire"):
        if not groups[cat]:
            lines.append(f"{cat} = []  # TODO: no {cat.upper()}-looking call types in the sample")
            continue
        lines.append(f"{cat} = [")
        lines += [f"    {_toml_str(_glob_literal(v))},  # {n}" for v, n in groups[cat]]
        lines.append("]")
    if groups["other"]:
        lines.append("# other (not listed above):")
        lines += [f"#   {_comment_text(v, 100)},  # {n}" for v, n in groups["other"]]
    if len(ranked) > len(shown):
        lines.append(f"# ... and {len(ranked) - len(shown)} rarer call types not listed")
    return lines


def _source_name(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".gzip"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_") or "custom"


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
        :func:`dispatch_analytics.profiles.parse_profile` accepts it as is; otherwise the
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
    cols = [
        _analyse(name, orig, [r[i] for r in sample.rows], orig in temporal)
        for i, (name, orig) in enumerate(zip(sample.names, sample.originals, strict=True))
    ]
    m = _match(cols)
    matched = m.columns

    # ---------------------------------------------------------------- coordinates
    coord_lines: list[str] = []
    commented: list[str] = []  # source columns offered as commented alternatives
    crs, crs_note = "EPSG:4326", ""
    order, order_note = None, ""
    have_xy = "latitude" in matched and "longitude" in matched
    if have_xy:
        crs, crs_note = _coord_crs(
            matched["latitude"].numbers or [], matched["longitude"].numbers or []
        )
    if "location" in matched:
        loc = matched.pop("location")
        if have_xy and crs == "EPSG:4326":
            commented.append(loc.name)
            coord_lines.append(
                f"# location = {_toml_str(loc.name)}  # alternative to latitude/longitude"
            )
        else:
            if have_xy:  # projected x/y: the degree text column is simpler
                for fld in ("latitude", "longitude"):
                    c = matched.pop(fld)
                    commented.append(c.name)
                    coord_lines.append(f"# {fld} = {_toml_str(c.name)}  # projected; see crs")
            matched["location"] = loc
            crs, crs_note = "EPSG:4326", "`location` text columns are read as WGS84"
            order, order_note = _location_order(loc)
    elif len({"latitude", "longitude"} & set(matched)) == 1:
        fld = "latitude" if "latitude" in matched else "longitude"
        c = matched.pop(fld)
        commented.append(c.name)
        other = "longitude" if fld == "latitude" else "latitude"
        coord_lines.append(f"# {fld} = {_toml_str(c.name)}  # TODO: map {other} too (or neither)")
    placed = {c.name for c in matched.values()} | set(commented)
    unused = [c for c in cols if c.name not in placed]

    # ---------------------------------------------------------------- formats
    totals: Counter[str] = Counter()
    for fld, c in matched.items():
        if fld in TIME_FIELDS:
            for fmt, n in c.formats:
                totals[fmt] += n
    rank = {f: i for i, f in enumerate(TIMESTAMP_CANDIDATES)}
    formats = sorted(totals, key=lambda f: (-totals[f], rank[f]))
    time_cols = {fld: c for fld, c in matched.items() if fld in TIME_FIELDS}
    mixed_order = any(f.startswith("%d") for f in formats) and any(
        f.startswith("%m") for f in formats
    )

    # ---------------------------------------------------------------- grain
    inc = matched.get("incident_id")
    repeats = inc is not None and len(set(inc.values)) < len(inc.values)
    if "unit_id" in matched and repeats:
        grain, grain_note = "unit", "incident ids repeat in the sample and a unit column exists"
    elif repeats:
        grain, grain_note = "incident", "incident ids repeat but no unit column was found: CHECK"
    elif "unit_id" in matched:
        grain, grain_note = "incident", "incident ids do not repeat in the sample: CHECK"
    else:
        grain, grain_note = "incident", "no unit column found"

    # ---------------------------------------------------------------- [source]
    shown_path = str(path).replace("\n", " ").replace("\r", " ")
    out = [
        "# Starter source profile generated by `dispatch profile-template`",
        f"# from {shown_path}",
        f"# ({sample.kind}, {len(cols)} columns, {len(sample.rows)} sampled rows).",
        "# Every line below is a GUESS: review each one before ingesting. Unplaced source",
        '# columns are listed as `# ? = "COLUMN"`: replace ? by a canonical field to use them.',
        "",
        "[source]",
        _line("name", _toml_str(_source_name(src))),
        _line("description", _toml_str(f"Generated from {src.name}; review before use")),
        _line("grain", _toml_str(grain), grain_note),
    ]
    if timezone is None:
        out.append(
            _line(
                "timezone",
                '"UTC"',
                'TODO: set the agency\'s IANA time zone, e.g. "America/New_York"',
            )
        )
    else:
        out.append(_line("timezone", _toml_str(timezone)))
    if formats:
        note = "formats parsing the sampled times, most values first"
        if any("z" in f for f in formats):
            note += "; values with a UTC offset ignore `timezone`"
        out.append(_line("timestamp_format", _toml_list(formats), note))
    elif any(c.temporal for c in time_cols.values()):
        out.append(
            _line(
                "timestamp_format",
                '"%Y-%m-%d %H:%M:%S"',
                "the time columns are already typed timestamps",
            )
        )
    else:
        out.append(
            _line(
                "timestamp_format",
                '"%Y-%m-%d %H:%M:%S"',
                "TODO: no timestamp values in the sample; set the format",
            )
        )
    out.append(_line("crs", _toml_str(crs), crs_note))
    if order is not None:
        out.append(_line("location_order", _toml_str(order), order_note))
    if sample.kind == "csv":
        out.append(_line("delimiter", _toml_str(sample.delimiter or ",")))
        if sample.encoding != "utf-8":
            out.append(_line("encoding", _toml_str(sample.encoding or "auto"), "not valid UTF-8"))

    # ---------------------------------------------------------------- [columns]
    out += ["", "[columns]"]
    for fld in ("incident_id", "call_received_at"):
        if fld not in matched:
            what = "incident id" if fld == "incident_id" else "call-received timestamp"
            out.append(f"# TODO: no {what} column was recognised; map one and uncomment:")
            out.append(f'# {fld} = "COLUMN"')
    for fld in _FIELD_ORDER:
        c = matched.get(fld)
        if c is None:
            continue
        notes = []
        if c.example is not None:
            notes.append(f"e.g. {_comment_text(c.example)}")
        if fld in m.notes:
            notes.append(m.notes[fld])
        out.append(_line(fld, _toml_str(c.name), "; ".join(notes)))
    out += coord_lines
    required = ("incident_id", "call_received_at")
    missing = [f for f in _FIELD_ORDER if f not in matched and f not in required]
    if "location" in matched or {"latitude", "longitude"} <= set(matched):
        missing = [f for f in missing if f not in ("latitude", "longitude", "location")]
    if missing:
        out += textwrap.wrap(
            "Not found: " + ", ".join(missing),
            width=95,
            initial_indent="# ",
            subsequent_indent="#   ",
            break_on_hyphens=False,
        )
    for c in unused:
        hint = []
        if c.example is not None:
            hint.append(f"e.g. {_comment_text(c.example)}")
        if c.is_time:
            hint.append("timestamps")
        elif not c.values and not c.temporal:
            hint.append("empty in the sample")
        text = f"# ? = {_toml_str(c.name)}"
        out.append(f"{text}  # {'; '.join(hint)}" if hint else text)

    # ---------------------------------------------------------------- [formats]
    if mixed_order and len(time_cols) > 1:
        out += ["", "[formats]", "# day-first and month-first columns both occur: per field"]
        for fld, c in time_cols.items():
            if c.formats:
                out.append(_line(fld, _toml_list([f for f, _ in c.formats])))

    # ---------------------------------------------------------------- [constants]
    nemsis = any(c.norm.startswith(("etimes", "eresponse")) for c in cols)
    if nemsis and "call_type" not in matched:
        out += [
            "",
            "[constants]",
            _line("call_category", '"ems"', "NEMSIS records are EMS patient-care reports"),
        ]

    # ---------------------------------------------------------------- [categories]
    if "call_type" in matched:
        out += _category_lines(matched["call_type"])
    return "\n".join(out) + "\n"
