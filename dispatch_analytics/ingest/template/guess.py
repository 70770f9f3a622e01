"""Guessing what each sampled source column holds.

:func:`_analyse` looks at one column's values (timestamps and their formats, numbers,
coordinate pairs), :func:`_match` places the columns on canonical fields (synonyms, name
patterns, keywords), and :func:`_guess` adds the choice of coordinate columns, the CRS and
location order, the timestamp formats and the grain: everything the mapping TOML is
written from (see :mod:`.render`). :func:`_classify` sorts a call type into ems / fire /
other.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

from ...schema.fields import TIME_FIELDS
from .checks import discipline_column, order_problems
from .formats import TIMESTAMP_CANDIDATES, _clean, _format_cover, excel_serial_guess
from .read import _Sample
from .synonyms import _INCIDENT_RE, _RECEIVED_FALLBACK, _SYNONYMS, _TIME_KEYWORDS, _UNIT_RE

__all__ = ["_Column", "_Guess", "_classify", "_guess"]

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
    excel_note: str | None = None  # Excel serial day numbers: how sure (see excel_serial_guess)

    @property
    def example(self) -> str | None:
        return self.values[0] if self.values else None


def _norm(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", name.lower())


def _analyse(name: str, original: str, raw: list[str | None], temporal: bool) -> _Column:
    """What the sampled values of one column look like: timestamps, numbers, coordinates."""
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
    serial = excel_serial_guess(vals)
    if serial is not None:  # 45292.5: an Excel serial day number (a numeric cell or CSV text)
        col.formats, col.excel_note = [("excel", serial[0])], serial[1]
        col.is_time = True
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
    #: column name -> why a guess for it was dropped (the sampled values contradict it)
    rejected: dict[str, str] = field(default_factory=dict)
    all_columns: list[_Column] = field(default_factory=list)

    def take(self, fld: str, col: _Column, note: str = "") -> None:
        self.columns[fld] = col
        self.used.add(col.name)
        if note:
            self.notes[fld] = note


def _match(cols: list[_Column]) -> _Match:
    """Place the columns on canonical fields: synonyms, id patterns, keywords, values."""
    m = _Match(all_columns=cols)
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


# =========================================================================== the guesses
@dataclass
class _Coordinates:
    """Which coordinate columns are used, their CRS and the commented-out alternatives."""

    #: (field, source column, comment) of coordinate columns offered as commented lines
    alternatives: list[tuple[str, str, str]] = field(default_factory=list)
    crs: str = "EPSG:4326"
    crs_note: str = ""
    order: str | None = None  # location_order of a `location` text column
    order_note: str = ""


def _place_coordinates(matched: dict[str, _Column]) -> _Coordinates:
    """Keep latitude/longitude or a location column in ``matched``; offer the others."""
    coords = _Coordinates()
    have_xy = "latitude" in matched and "longitude" in matched
    if have_xy:
        coords.crs, coords.crs_note = _coord_crs(
            matched["latitude"].numbers or [], matched["longitude"].numbers or []
        )
    if "location" in matched:
        loc = matched.pop("location")
        if have_xy and coords.crs == "EPSG:4326":
            coords.alternatives.append(("location", loc.name, "alternative to latitude/longitude"))
        else:
            if have_xy:  # projected x/y: the degree text column is simpler
                for fld in ("latitude", "longitude"):
                    c = matched.pop(fld)
                    coords.alternatives.append((fld, c.name, "projected; see crs"))
            matched["location"] = loc
            coords.crs, coords.crs_note = "EPSG:4326", "`location` text columns are read as WGS84"
            coords.order, coords.order_note = _location_order(loc)
    elif len({"latitude", "longitude"} & set(matched)) == 1:
        fld = "latitude" if "latitude" in matched else "longitude"
        c = matched.pop(fld)
        other = "longitude" if fld == "latitude" else "latitude"
        coords.alternatives.append((fld, c.name, f"TODO: map {other} too (or neither)"))
    return coords


def _union_formats(time_cols: dict[str, _Column]) -> list[str]:
    """The formats of all time columns, most parsed values first (ties: candidate order)."""
    totals: Counter[str] = Counter()
    for c in time_cols.values():
        for fmt, n in c.formats:
            totals[fmt] += n
    rank = {f: i for i, f in enumerate(TIMESTAMP_CANDIDATES)}
    return sorted(totals, key=lambda f: (-totals[f], rank.get(f, len(rank))))


def _guess_grain(matched: dict[str, _Column]) -> tuple[str, str]:
    """``("unit" or "incident", why)`` from the incident ids and a unit column."""
    inc = matched.get("incident_id")
    repeats = inc is not None and len(set(inc.values)) < len(inc.values)
    if "unit_id" in matched and repeats:
        return "unit", "incident ids repeat in the sample and a unit column exists"
    if repeats:
        return "incident", "incident ids repeat but no unit column was found: CHECK"
    if "unit_id" in matched:
        return "incident", "incident ids do not repeat in the sample: CHECK"
    return "incident", "no unit column found"


@dataclass
class _Guess:
    """Everything guessed about a sample, for :func:`.render._render`."""

    columns: list[_Column]  # every source column, in file order
    matched: dict[str, _Column]  # canonical field -> the source column placed there
    notes: dict[str, str]  # canonical field -> how it was placed and how sure it is
    rejected: dict[str, str]  # column -> why its guess was dropped
    coords: _Coordinates
    unused: list[_Column]  # source columns placed nowhere (not even as an alternative)
    time_cols: dict[str, _Column]  # the matched timestamp fields, in match order
    formats: list[str]  # the formats of all time columns, most values first
    grain: str
    grain_note: str


def _check_against_values(m: _Match, sample: _Sample) -> None:
    """Drop the stage guesses the sampled values contradict, say how sure each guess is, and
    place a discipline column (FIRE / EMS / POLICE) on ``call_category``."""
    stages = {
        f: (c.name, [fmt for fmt, _ in c.formats]) for f, c in m.columns.items() if f in TIME_FIELDS
    }
    for fld, (name, why) in order_problems(sample, stages).items():
        if fld == "call_received_at":
            m.notes[fld] = f"CHECK: values come {why}"
            continue
        del m.columns[fld]
        m.used.discard(name)
        m.rejected[name] = f"not {fld}: values come {why}"
    for fld in m.columns:
        if fld in TIME_FIELDS and fld not in m.notes and len(stages) > 1:
            m.notes[fld] = "sure: name and stage order fit"
        elif fld not in m.notes:
            m.notes[fld] = "sure: a known column name"
        elif m.notes[fld] == "guessed from the column name" and fld in TIME_FIELDS:
            m.notes[fld] = "likely: the name fits and the values come in stage order"
    if "call_category" not in m.columns:
        free = [c.name for c in m.all_columns if c.name not in m.used]
        hit = discipline_column(sample, free)
        if hit is not None:
            name, seen = hit
            col = next(c for c in m.all_columns if c.name == name)
            m.take("call_category", col, f"likely: values {' / '.join(seen)} (the discipline)")


def _guess(sample: _Sample, temporal: set[str]) -> _Guess:
    """Analyse every sampled column and guess the fields, coordinates, formats and grain."""
    cols = [
        _analyse(name, orig, [r[i] for r in sample.rows], orig in temporal)
        for i, (name, orig) in enumerate(zip(sample.names, sample.originals, strict=True))
    ]
    m = _match(cols)
    _check_against_values(m, sample)
    matched = m.columns
    coords = _place_coordinates(matched)
    placed = {c.name for c in matched.values()} | {name for _, name, _ in coords.alternatives}
    time_cols = {fld: c for fld, c in matched.items() if fld in TIME_FIELDS}
    grain, grain_note = _guess_grain(matched)
    return _Guess(
        columns=cols,
        matched=matched,
        notes=m.notes,
        rejected=m.rejected,
        coords=coords,
        unused=[c for c in cols if c.name not in placed],
        time_cols=time_cols,
        formats=_union_formats(time_cols),
        grain=grain,
        grain_note=grain_note,
    )
