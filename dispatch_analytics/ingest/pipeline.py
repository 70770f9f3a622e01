"""Ingest: raw CAD / 911 rows -> canonical, validated rows in the store, or rejects.

Each input file is one *batch*: read in chunks (bounded memory), mapped through a source
profile, parsed in the agency time zone, validated; accepted rows and rejected rows (each
with a reason) are written to a staging folder that is renamed into the lake only when the
whole file is done. For every file, rows read = rows accepted + rows rejected.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

from ..errors import IngestError
from ..io.sources import ROW_COL
from ..schema.fields import RESPONSE_STAGES, STAGE_ORDER, TEXT_FIELDS
from ..schema.tables import REJECT_SCHEMA, RESPONSE_SCHEMA
from .localtime import localize
from .profiles import SourceProfile

__all__ = [
    "REJECT_REASONS",
    "FileResult",
    "IngestReport",
    "check_columns",
    "ProgressFn",
    "normalize_chunk",
]

#: Every reason a source row can be rejected for, with what it means.
REJECT_REASONS: dict[str, str] = {
    "duplicate_row": "an exact copy of an earlier row (in this file or already stored)",
    "missing_id": "incident_id (or unit_id, for unit-grain sources) is blank",
    "unparseable_time": "a time value matches none of the profile's timestamp formats",
    "nonexistent_local_time": "a local time that does not exist (inside a spring-forward gap)",
    "missing_time": "call_received_at is blank",
    "stage_order": "a stage is earlier than a stage that must precede it",
    "interval_too_long": "a gap between response stages exceeds max_interval_s, or the "
    "record spans more than max_span_s",
    "missing_coordinates": "latitude / longitude (or location) is blank",
    "unparseable_coordinates": "a coordinate is not a number / the location text is not "
    "'(lat, lon)' or 'POINT (lon lat)'",
    "zero_coordinates": "coordinates are (0, 0), a common CAD placeholder",
    "coordinates_out_of_range": "latitude outside [-90, 90] or longitude outside [-180, 180]",
    "coordinates_out_of_area": "coordinates outside the profile's bbox",
}

_TS = pl.Datetime("us", "UTC")
_AWARE = ("%z", "%:z", "%::z", "%#z")
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_PAIR_RE = rf"^\s*\(?\s*({_NUM})\s*[,;\s]\s*({_NUM})\s*\)?\s*$"
_POINT_RE = rf"(?i)^\s*POINT\s*\(\s*({_NUM})\s+({_NUM})\s*\)\s*$"


# ============================================================================ results
@dataclass
class FileResult:
    """What happened to one input file."""

    source: str
    batch_id: str | None = None
    skipped_as: str | None = None
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    incidents: int = 0
    units: int = 0
    first_received_at: datetime | None = None
    last_received_at: datetime | None = None
    encoding: str | None = None
    delimiter: str | None = None
    seconds: float = 0.0

    @property
    def skipped(self) -> bool:
        """True when the same file content had already been ingested (nothing added)."""
        return self.skipped_as is not None


@dataclass
class IngestReport:
    """The result of one :func:`ingest` call (one batch per file)."""

    files: list[FileResult]
    profile: str
    dry_run: bool = False
    #: per zone layer: incidents assigned / outside / without coordinates after the ingest
    zone_counts: dict[str, dict[str, int]] | None = None

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_accepted(self) -> int:
        return sum(f.rows_accepted for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    @property
    def rejects_by_reason(self) -> dict[str, int]:
        total: Counter = Counter()
        for f in self.files:
            total.update(f.rejects_by_reason)
        return dict(total.most_common())

    @property
    def first_received_at(self) -> datetime | None:
        vals = [f.first_received_at for f in self.files if f.first_received_at]
        return min(vals) if vals else None

    @property
    def last_received_at(self) -> datetime | None:
        vals = [f.last_received_at for f in self.files if f.last_received_at]
        return max(vals) if vals else None


# ============================================================================ helpers
def _glob_regex(patterns: Iterable[str]) -> str:
    parts = []
    for pat in patterns:
        rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pat)
        parts.append(f"^{rx}$")
    return "(?i)(?:" + "|".join(parts) + ")"


def _raw_text(col: str) -> pl.Expr:
    e = pl.col(col).cast(pl.String).str.strip_chars()
    return pl.when(e == "").then(None).otherwise(e)


def _text_expr(profile: SourceProfile, fld: str) -> pl.Expr:
    if fld in profile.columns:
        return _raw_text(profile.columns[fld])
    if fld in profile.constants:
        return pl.lit(profile.constants[fld], pl.String)
    return pl.lit(None, pl.String)


def _category_expr(profile: SourceProfile) -> pl.Expr:
    if "call_category" in profile.mapped_fields:
        return _text_expr(profile, "call_category").str.to_lowercase()
    if not profile.categories:
        return pl.lit(None, pl.String)
    ct = _text_expr(profile, "call_type")
    expr = pl.when(ct.is_null()).then(pl.lit("other"))
    for cat, pats in profile.categories.items():
        expr = expr.when(ct.str.contains(_glob_regex(pats))).then(pl.lit(cat))
    return expr.otherwise(pl.lit("other"))


def _nulls(n: int, dtype: pl.DataType, name: str = "") -> pl.Series:
    return pl.repeat(None, n, dtype=dtype, eager=True).alias(name)


def _parse_times(df: pl.DataFrame, profile: SourceProfile) -> dict[str, dict[str, pl.Series]]:
    """Parse every mapped time field.

    Returns, per field: ``raw`` (text), ``early`` / ``late`` (UTC; differ only for
    fall-back hour readings), ``unparseable`` and ``nonexistent`` masks.
    """
    n = df.height
    fields = [f for f in STAGE_ORDER if f in profile.columns]
    schema = df.schema
    typed = {f for f in fields if isinstance(schema[profile.columns[f]], (pl.Datetime, pl.Date))}
    raw = df.select(
        [
            (pl.col(profile.columns[f]) if f in typed else _raw_text(profile.columns[f])).alias(f)
            for f in fields
        ]
    )
    naive: dict[str, pl.Series] = {}
    aware: dict[str, pl.Series] = {}
    todo: dict[str, list[str]] = {}
    for f in fields:
        s = raw[f]
        if f in typed:
            tz = s.dtype.time_zone if isinstance(s.dtype, pl.Datetime) else None
            s = s.cast(pl.Datetime("us", tz))
            if tz:
                aware[f] = s.dt.convert_time_zone("UTC")
            else:
                naive[f] = s
            continue
        todo[f] = list(profile.formats_for(f))

    # try formats in order; each round parses all pending fields in one parallel select
    while todo:
        exprs = []
        for f, fmts in todo.items():
            fmt = fmts[0]
            dtype = _TS if any(z in fmt for z in _AWARE) else pl.Datetime("us")
            exprs.append(pl.col(f).str.strptime(dtype, fmt, strict=False, exact=True).alias(f))
        parsed = raw.select(exprs)
        nxt: dict[str, list[str]] = {}
        for f, fmts in todo.items():
            p = parsed[f]
            if p.dtype.time_zone:
                p = p.dt.convert_time_zone("UTC")
                aware[f] = p if f not in aware else aware[f].zip_with(aware[f].is_not_null(), p)
            else:
                naive[f] = p if f not in naive else naive[f].zip_with(naive[f].is_not_null(), p)
            done = naive[f].is_not_null() if f in naive else None
            if f in aware:
                done = aware[f].is_not_null() if done is None else done | aware[f].is_not_null()
            if len(fmts) > 1 and (raw[f].is_not_null() & ~done).any():
                nxt[f] = fmts[1:]
        todo = nxt

    out = {}
    for f in fields:
        nv = naive.get(f)
        av = aware.get(f)
        if nv is not None:
            e, lt = localize(nv, profile.timezone)
            if av is not None:
                e = av.zip_with(av.is_not_null(), e)
                lt = av.zip_with(av.is_not_null(), lt)
            nonexistent = nv.is_not_null() & e.is_null()
        else:
            e = lt = av
            nonexistent = pl.repeat(False, n, eager=True)
        parsed_any = e.is_not_null() | nonexistent
        out[f] = {
            "raw": raw[f].cast(pl.String),
            "early": e.alias(f),
            "late": lt.alias(f),
            "unparseable": raw[f].is_not_null() & ~parsed_any,
            "nonexistent": nonexistent,
        }
    return out


def _resolve_fall_back(
    times: dict[str, dict[str, pl.Series]], profile: SourceProfile
) -> tuple[dict[str, pl.Series], pl.Series]:
    """Choose early/late readings of fall-back-hour times from the order of the stages.

    Where exactly one choice keeps the stages in order (and gaps within max_interval_s) it
    is taken and flagged ``dst_resolved``; where several do, the one with the shortest span
    is taken and flagged ``dst_ambiguous``; where none does, the earliest readings are kept
    (the row is then rejected for stage order).
    """
    fields = list(times)
    chosen = {f: times[f]["early"] for f in fields}
    n = len(next(iter(times.values()))["early"]) if times else 0
    flags = _nulls(n, pl.String, "time_flags")
    if not fields:
        return chosen, flags
    amb_mask = pl.repeat(False, n, eager=True)
    for f in fields:
        amb_mask = amb_mask | (times[f]["early"] != times[f]["late"]).fill_null(False)
    idx = amb_mask.arg_true().to_list()
    if not idx:
        return chosen, flags
    early = {f: times[f]["early"].gather(idx).to_list() for f in fields}
    late = {f: times[f]["late"].gather(idx).to_list() for f in fields}
    new_vals = {f: list(early[f]) for f in fields}
    flag_vals: list[str | None] = [None] * len(idx)
    resp = set(RESPONSE_STAGES)
    for k in range(len(idx)):
        present = [f for f in fields if early[f][k] is not None]
        amb = [f for f in present if early[f][k] != late[f][k]][:12]
        best, n_ok = None, 0
        for combo in itertools.product((False, True), repeat=len(amb)):
            pick = dict(zip(amb, combo, strict=True))
            vals = [(f, late[f][k] if pick.get(f) else early[f][k]) for f in present]
            ok, running, prev = True, None, None
            for f, v in vals:
                if running is not None and v < running:
                    ok = False
                    break
                if prev is not None and f in resp and prev[0] in resp:
                    if (v - prev[1]).total_seconds() > profile.max_interval_s:
                        ok = False
                        break
                running = v if running is None else max(running, v)
                prev = (f, v)
            if ok:
                n_ok += 1
                span = (vals[-1][1] - vals[0][1]).total_seconds()
                key = (span, [v for _, v in vals])
                if best is None or key < best[0]:
                    best = (key, dict(vals))
        if best is not None:
            for f, v in best[1].items():
                new_vals[f][k] = v
            flag_vals[k] = "dst_resolved" if n_ok == 1 else "dst_ambiguous"
        else:
            flag_vals[k] = "dst_ambiguous"
    idx_s = pl.Series(idx, dtype=pl.UInt32)
    for f in fields:
        chosen[f] = chosen[f].scatter(idx_s, pl.Series(new_vals[f], dtype=_TS))
    flags = flags.scatter(idx_s, pl.Series(flag_vals, dtype=pl.String))
    return chosen, flags


# ============================================================================ coordinates
@functools.lru_cache(maxsize=16)
def _to_wgs84(crs: str):
    """A cached transformer (building one costs milliseconds; ingest asks once per chunk)."""
    from pyproj import Transformer

    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True)


def _coordinates(df: pl.DataFrame, profile: SourceProfile) -> dict[str, pl.Series]:
    n = df.height
    nulls = _nulls(n, pl.Float64)
    false = pl.repeat(False, n, eager=True)
    if not profile.has_coordinates:
        return {
            "lat": nulls,
            "lon": nulls,
            "raw": _nulls(n, pl.String),
            "missing": false,
            "unparseable": false,
            "field": "latitude",
        }
    if "location" in profile.columns:
        col = profile.columns["location"]
        raw = df.select(_raw_text(col)).to_series()
        pair = raw.str.extract_groups(_PAIR_RE)
        point = raw.str.extract_groups(_POINT_RE)
        a = pair.struct.field("1").cast(pl.Float64, strict=False)
        b = pair.struct.field("2").cast(pl.Float64, strict=False)
        if profile.location_order == "lat,lon":
            lat, lon = a, b
        else:
            lat, lon = b, a
        lon = lon.zip_with(
            lon.is_not_null(), point.struct.field("1").cast(pl.Float64, strict=False)
        )
        lat = lat.zip_with(
            lat.is_not_null(), point.struct.field("2").cast(pl.Float64, strict=False)
        )
        missing = raw.is_null()
        unparseable = raw.is_not_null() & (lat.is_null() | lon.is_null())
        return {
            "lat": lat,
            "lon": lon,
            "raw": raw,
            "missing": missing,
            "unparseable": unparseable,
            "field": "location",
        }
    raw_y = df.select(_text_expr(profile, "latitude")).to_series()
    raw_x = df.select(_text_expr(profile, "longitude")).to_series()
    y = raw_y.cast(pl.Float64, strict=False)
    x = raw_x.cast(pl.Float64, strict=False)
    missing = raw_y.is_null() | raw_x.is_null()
    unparseable = ~missing & (y.is_null() | x.is_null() | ~y.is_finite() | ~x.is_finite())
    raw = pl.select(pl.concat_str([raw_y, raw_x], separator=", ")).to_series()
    if not profile.is_geographic:
        ok = (~missing & ~unparseable & ~((x == 0) & (y == 0))).fill_null(False)
        lon = np.full(n, np.nan)
        lat = np.full(n, np.nan)
        m = ok.to_numpy()
        if m.any():
            tr = _to_wgs84(profile.crs)
            lon[m], lat[m] = tr.transform(x.to_numpy()[m], y.to_numpy()[m])
        zero = ((x == 0) & (y == 0)).fill_null(False)
        lat_s = pl.Series(lat).fill_nan(None)
        lon_s = pl.Series(lon).fill_nan(None)
        # keep raw zeros visible to the zero check
        lat_s = lat_s.zip_with(~zero, pl.repeat(0.0, n, eager=True))
        lon_s = lon_s.zip_with(~zero, pl.repeat(0.0, n, eager=True))
        return {
            "lat": lat_s,
            "lon": lon_s,
            "raw": raw,
            "missing": missing,
            "unparseable": unparseable,
            "field": "latitude",
        }
    return {
        "lat": y,
        "lon": x,
        "raw": raw,
        "missing": missing,
        "unparseable": unparseable,
        "field": "latitude",
    }


# ============================================================================ one chunk
@dataclass
class _Check:
    """One validation rule's verdict on a chunk: which rows fail and how to describe them."""

    mask: pl.Series
    reason: str
    field: str
    value: pl.Series | None  # raw value of the field, full length (gathered lazily)
    detail: Callable[[pl.Series], pl.Series]  # row indices -> messages


def _q(s: pl.Series) -> pl.Series:
    return "'" + s.fill_null("") + "'"


def _const(text: str) -> Callable[[pl.Series], pl.Series]:
    return lambda idx: pl.repeat(text, len(idx), dtype=pl.String, eager=True)


def normalize_chunk(
    df: pl.DataFrame,
    profile: SourceProfile,
    source: str,
    batch_id: str,
    seen: pl.DataFrame | None = None,
    raw_columns: list[str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Map, parse and validate one chunk of raw rows.

    Parameters
    ----------
    df : polars.DataFrame
        Raw rows with a ``source_row`` column (1-based data row number).
    profile : SourceProfile
    source : str
        The file name recorded as lineage.
    batch_id : str
    seen : polars.DataFrame, optional
        ``row_hash, source, source_row`` of rows seen before (stored or earlier chunks);
        rows with the same hash are rejected as ``duplicate_row``.
    raw_columns : list of str, optional
        Columns that make up a row's identity (default: all but ``source_row``).

    Returns
    -------
    accepted, rejects : polars.DataFrame
        Frames with :data:`RESPONSE_SCHEMA` and :data:`REJECT_SCHEMA` columns; every input
        row is in exactly one of them.
    """
    n = df.height
    raw_columns = raw_columns or [c for c in df.columns if c != ROW_COL]
    rows = df[ROW_COL]
    row_hash = (
        df.select(pl.struct([pl.col(c).cast(pl.String) for c in raw_columns]).hash(0))
        .to_series()
        .alias("row_hash")
    )
    checks: list[_Check] = []

    def add(mask, reason, fld, value, detail):
        mask = mask.fill_null(False)
        if mask.any():
            checks.append(_Check(mask, reason, fld, value, detail))

    # ---- duplicates: within the chunk, then against what was seen before
    dup_here = ~row_hash.is_first_distinct()
    dup_before = (
        row_hash.is_in(seen["row_hash"].implode())
        if seen is not None and seen.height
        else pl.repeat(False, n, eager=True)
    )
    if dup_here.any() or dup_before.any():
        keyed = pl.DataFrame({"row_hash": row_hash, ROW_COL: rows})

        def dup_detail(idx: pl.Series) -> pl.Series:
            sub = keyed[idx]
            here = keyed.filter(pl.col("row_hash").is_in(sub["row_hash"].implode()))
            first_here = here.group_by("row_hash").agg(pl.col(ROW_COL).min().alias("_first"))
            sub = sub.join(first_here, on="row_hash", how="left", maintain_order="left")
            if seen is not None and seen.height:
                sub = sub.join(
                    seen.rename({"source": "_src", ROW_COL: "_row"}),
                    on="row_hash",
                    how="left",
                    maintain_order="left",
                )
            else:
                sub = sub.with_columns(_src=pl.lit(None, pl.String), _row=pl.lit(None, pl.Int64))
            return sub.select(
                pl.when(pl.col("_src").is_not_null())
                .then(pl.format("same as row {} of {}", pl.col("_row"), pl.col("_src")))
                .otherwise(pl.format("same as row {} of this file", pl.col("_first")))
            ).to_series()

        add(dup_here | dup_before, "duplicate_row", "", None, dup_detail)

    # ---- ids and text
    text = df.select(
        [
            _text_expr(profile, f).alias(f)
            for f in ("incident_id", "unit_id", *TEXT_FIELDS)
            if f != "call_category"
        ]
        + [_category_expr(profile).alias("call_category")]
    )
    inc_col = profile.columns.get("incident_id", "incident_id")
    add(
        text["incident_id"].is_null(),
        "missing_id",
        "incident_id",
        None,
        _const(f"`incident_id` (column {inc_col!r}) is blank"),
    )
    if profile.grain == "unit":
        unit_col = profile.columns.get("unit_id", "unit_id")
        add(
            text["unit_id"].is_null(),
            "missing_id",
            "unit_id",
            None,
            _const(f"`unit_id` (column {unit_col!r}) is blank"),
        )

    # ---- times
    times = _parse_times(df, profile)
    chosen, flags = _resolve_fall_back(times, profile)
    fields = list(times)
    for f in fields:
        fmts = " or ".join(repr(x) for x in profile.formats_for(f))
        raw_f = times[f]["raw"]
        add(
            times[f]["unparseable"],
            "unparseable_time",
            f,
            raw_f,
            lambda idx, f=f, r=raw_f, m=fmts: (
                f"`{f}` " + _q(r.gather(idx)) + f" does not match {m}"
            ),
        )
    for f in fields:
        raw_f = times[f]["raw"]
        add(
            times[f]["nonexistent"],
            "nonexistent_local_time",
            f,
            raw_f,
            lambda idx, f=f, r=raw_f: (
                f"`{f}` "
                + _q(r.gather(idx))
                + f" does not exist in {profile.timezone} (spring-forward gap)"
            ),
        )
    if "call_received_at" in times:
        add(
            times["call_received_at"]["raw"].is_null(),
            "missing_time",
            "call_received_at",
            None,
            _const("`call_received_at` is blank"),
        )

    # stage order: each present stage >= every present stage before it
    late_order = pl.repeat(False, n, eager=True)
    frame = pl.DataFrame([chosen[f] for f in fields]) if fields else pl.DataFrame()
    if len(fields) > 1:
        bad_cols = frame.select(
            (pl.col(f) < pl.max_horizontal(fields[:i])).fill_null(False).alias(f)
            for i, f in enumerate(fields)
            if i > 0
        )
        for i, f in enumerate(fields[1:], start=1):
            before = fields[:i]

            def order_detail(idx, f=f, before=before):
                sub = frame[idx]
                raws = pl.DataFrame({b: times[b]["raw"].gather(idx) for b in [*before, f]})
                culprit = sub.select(
                    pl.coalesce([pl.when(pl.col(b) > pl.col(f)).then(pl.lit(b)) for b in before])
                ).to_series()
                craw = (
                    pl.concat([raws, culprit.alias("_c").to_frame()], how="horizontal")
                    .select(
                        pl.coalesce([pl.when(pl.col("_c") == b).then(pl.col(b)) for b in before])
                    )
                    .to_series()
                )
                return f"`{f}` " + _q(raws[f]) + " is before `" + culprit + "` " + _q(craw)

            if profile.stage_order == "response" and f not in RESPONSE_STAGES:
                # a stage after arrival out of order: keep the row (its response intervals
                # are sound), flag it
                late_order = late_order | bad_cols[f]
            else:
                add(bad_cols[f], "stage_order", f, times[f]["raw"], order_detail)

    # interval limits: consecutive response stages, and the whole record's span
    resp = [f for f in fields if f in RESPONSE_STAGES]
    if len(resp) > 1:
        gaps = frame.select(
            (pl.col(f) - pl.coalesce(resp[:i][::-1])).dt.total_seconds().alias(f)
            for i, f in enumerate(resp)
            if i > 0
        )
        for f in resp[1:]:
            g = gaps[f]
            add(
                g > profile.max_interval_s,
                "interval_too_long",
                f,
                times[f]["raw"],
                lambda idx, f=f, g=g: (
                    f"`{f}` is "
                    + g.gather(idx).cast(pl.String)
                    + f" s after the stage before it (max_interval_s = {profile.max_interval_s:g})"
                ),
            )
    if len(fields) > 1:
        span = frame.select(
            (pl.max_horizontal(fields) - pl.min_horizontal(fields)).dt.total_seconds()
        ).to_series()
        add(
            span > profile.max_span_s,
            "interval_too_long",
            fields[-1],
            None,
            lambda idx: (
                "record spans "
                + span.gather(idx).cast(pl.String)
                + f" s (max_span_s = {profile.max_span_s:g})"
            ),
        )

    # ---- coordinates
    co = _coordinates(df, profile)
    lat, lon = co["lat"], co["lon"]
    if profile.coordinates_required:
        cf, craw = co["field"], co["raw"]
        add(co["missing"], "missing_coordinates", cf, craw, _const(f"`{cf}` is blank"))
        add(
            co["unparseable"],
            "unparseable_coordinates",
            cf,
            craw,
            lambda idx: f"`{cf}` " + _q(craw.gather(idx)) + " is not a coordinate pair",
        )
        valid = ~co["missing"] & ~co["unparseable"]
        zero = (valid & (lat == 0) & (lon == 0)).fill_null(False)
        add(zero, "zero_coordinates", cf, craw, _const(f"`{cf}` is (0, 0)"))
        oor = (
            valid
            & ~zero
            & (lat.is_null() | lon.is_null() | (lat.abs() > 90) | (lon.abs() > 180)).fill_null(True)
        )
        add(
            oor,
            "coordinates_out_of_range",
            cf,
            craw,
            lambda idx: (
                f"`{cf}` " + _q(craw.gather(idx)) + " is outside lat [-90, 90] / lon [-180, 180]"
            ),
        )
        if profile.bbox:
            x0, y0, x1, y1 = profile.bbox
            inside = (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
            add(
                valid & ~zero & ~oor & ~inside.fill_null(False),
                "coordinates_out_of_area",
                cf,
                craw,
                lambda idx: (
                    f"`{cf}` " + _q(craw.gather(idx)) + f" is outside bbox {list(profile.bbox)}"
                ),
            )

    # ---- accepted rows
    stage_frame = pl.DataFrame(
        [chosen[f] if f in chosen else _nulls(n, _TS, f) for f in STAGE_ORDER]
    )
    accepted_all = pl.concat(
        [text, stage_frame, pl.DataFrame({"latitude": lat, "longitude": lon})], how="horizontal"
    ).with_columns(
        timezone=pl.lit(profile.timezone),
        call_received_local_at=pl.col("call_received_at")
        .dt.convert_time_zone(profile.timezone)
        .dt.replace_time_zone(None),
        time_flags=pl.select(
            pl.concat_str(
                [flags, pl.when(late_order).then(pl.lit("stage_order_after_arrival"))],
                separator=";",
                ignore_nulls=True,
            )
        )
        .to_series()
        .replace("", None),
        stages_recorded=pl.sum_horizontal(
            [pl.col(f).is_not_null().cast(pl.Int16) for f in STAGE_ORDER]
        ).cast(pl.Int16),
        last_stage_at=pl.max_horizontal(list(STAGE_ORDER)),
        grain=pl.lit(profile.grain),
        profile=pl.lit(profile.name),
        source=pl.lit(source),
        batch_id=pl.lit(batch_id),
        source_row=rows,
        row_hash=row_hash,
    )
    if not checks:
        accepted = accepted_all.select([pl.col(c).cast(t) for c, t in RESPONSE_SCHEMA.items()])
        return accepted, pl.DataFrame(schema=REJECT_SCHEMA)

    # ---- the first failing rule of each row is its reason; every rule is listed in detail
    masks = pl.DataFrame({f"m{i}": c.mask for i, c in enumerate(checks)})
    first = masks.select(
        pl.coalesce(
            [pl.when(pl.col(f"m{i}")).then(pl.lit(i, pl.Int16)) for i in range(len(checks))]
        )
    ).to_series()
    rejected = first.is_not_null()
    accepted = accepted_all.filter(~rejected).select(
        [pl.col(c).cast(t) for c, t in RESPONSE_SCHEMA.items()]
    )
    rej_idx = rejected.arg_true()
    first_r = first.gather(rej_idx)
    parts = []
    for i, c in enumerate(checks):
        pos = (first_r == i).arg_true()
        if pos.is_empty():
            continue
        idx = rej_idx.gather(pos)
        parts.append(
            pl.DataFrame(
                {
                    "_pos": pos,
                    "field": pl.repeat(c.field, len(idx), dtype=pl.String, eager=True),
                    "reason": pl.repeat(c.reason, len(idx), dtype=pl.String, eager=True),
                    "value": c.value.gather(idx)
                    if c.value is not None
                    else _nulls(len(idx), pl.String),
                    "detail": c.detail(idx).cast(pl.String),
                }
            )
        )
    info = pl.concat(parts).sort("_pos")
    names = [c.reason for c in checks]
    every = (
        masks[rej_idx]
        .select(
            pl.concat_list([pl.when(pl.col(f"m{i}")).then(pl.lit(r)) for i, r in enumerate(names)])
            .list.drop_nulls()
            .list.unique(maintain_order=True)
        )
        .to_series()
    )
    more = every.list.len() > 1
    detail = pl.select(
        pl.when(more)
        .then(pl.format("{} (all problems: {})", info["detail"], every.list.join(", ")))
        .otherwise(info["detail"])
    ).to_series()
    raw_json = (
        df[rej_idx]
        .select(pl.struct([pl.col(c).cast(pl.String) for c in raw_columns]).struct.json_encode())
        .to_series()
    )
    k = len(rej_idx)
    rejects = pl.DataFrame(
        {
            "source": pl.repeat(source, k, dtype=pl.String, eager=True),
            "source_row": rows.gather(rej_idx),
            "field": info["field"],
            "reason": info["reason"],
            "value": info["value"],
            "detail": detail,
            "incident_id": text["incident_id"].gather(rej_idx),
            "raw_row": raw_json,
            "profile": pl.repeat(profile.name, k, dtype=pl.String, eager=True),
            "batch_id": pl.repeat(batch_id, k, dtype=pl.String, eager=True),
            "row_hash": row_hash.gather(rej_idx),
        }
    ).select([pl.col(c).cast(t) for c, t in REJECT_SCHEMA.items()])
    return accepted, rejects


# ============================================================================ driver
def check_columns(profile: SourceProfile, columns: list[str], path: Path) -> None:
    import difflib

    problems = []
    for fld, col in profile.columns.items():
        if col not in columns:
            close = difflib.get_close_matches(col, columns, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(f"`{fld}` maps to column {col!r}, which {path} lacks{hint}")
    if problems:
        raise IngestError(
            f"{path} does not fit profile {profile.name!r}:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


ProgressFn = Callable[[str, int, int | None], None]
