"""The mapped time fields of a chunk: parsed in the profile's formats and time zone, with the
fall-back (DST overlap) hour resolved from the order of the stages.

Local (offset-less) times are read in the profile's zone (:func:`.localtime.localize`); times
with an offset, and native datetime columns with a zone, are converted to UTC as they are.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

import polars as pl

from ..errors import IngestError
from ..schema.fields import RESPONSE_STAGES
from .columns import null_series, raw_text
from .localtime import localize
from .profiles import EXCEL_SERIAL, SourceProfile

__all__ = ["UTC_TS", "ParsedTime", "ChunkTimes", "parse_times", "resolve_fall_back", "read_times"]

#: The stored type of every time: microseconds, UTC.
UTC_TS = pl.Datetime("us", "UTC")
_AWARE = ("%z", "%:z", "%::z", "%#z")
_RESP = frozenset(RESPONSE_STAGES)
#: fall-back readings tried per row: 2 ** this many ambiguous fields at most
_MAX_AMBIGUOUS = 12


@dataclass(frozen=True)
class ParsedTime:
    """One time field of a chunk, parsed.

    ``early`` / ``late`` are the UTC readings; they differ only for local times in a
    fall-back hour. ``unparseable``: text that matches no format; ``nonexistent``: a local
    time inside a spring-forward gap.
    """

    raw: pl.Series
    early: pl.Series
    late: pl.Series
    unparseable: pl.Series
    nonexistent: pl.Series
    #: a time of day placed on the next day (it would otherwise go backwards), or None
    rolled: pl.Series | None = None


@dataclass
class ChunkTimes:
    """The time fields of a chunk: each parsed, and the reading kept for each."""

    #: mapped time field -> its parse, in stage order
    parsed: dict[str, ParsedTime]
    #: mapped time field -> the UTC reading kept (fall-back hour resolved)
    chosen: dict[str, pl.Series]
    #: per row: 'dst_resolved', 'dst_ambiguous' or null
    flags: pl.Series

    @property
    def fields(self) -> list[str]:
        """The mapped time fields, in stage order."""
        return list(self.parsed)

    @cached_property
    def frame(self) -> pl.DataFrame:
        """The chosen readings as one frame, a column per mapped time field."""
        return (
            pl.DataFrame([self.chosen[f] for f in self.fields]) if self.parsed else pl.DataFrame()
        )

    def raw(self, fld: str) -> pl.Series:
        """The text of ``fld`` as read."""
        return self.parsed[fld].raw


def read_times(df: pl.DataFrame, profile: SourceProfile) -> ChunkTimes:
    """Parse every mapped time field of a raw chunk and resolve the fall-back hour.

    Parameters
    ----------
    df : polars.DataFrame
        Raw rows.
    profile : SourceProfile

    Returns
    -------
    ChunkTimes
    """
    parsed = parse_times(df, profile)
    chosen, flags = resolve_fall_back(parsed, profile)
    rolled = [t.rolled for t in parsed.values() if t.rolled is not None]
    if rolled:
        any_rolled = pl.select(pl.any_horizontal(rolled)).to_series()
        flags = (
            pl.select(
                pl.concat_str(
                    [flags, pl.when(any_rolled).then(pl.lit("midnight_rollover"))],
                    separator=";",
                    ignore_nulls=True,
                )
            )
            .to_series()
            .replace("", None)
            .alias("time_flags")
        )
    return ChunkTimes(parsed, chosen, flags)


# ============================================================================ parsing
def parse_times(df: pl.DataFrame, profile: SourceProfile) -> dict[str, ParsedTime]:
    """Parse every mapped time field.

    Parameters
    ----------
    df : polars.DataFrame
        Raw rows; time columns are text or native ``Date`` / ``Datetime``.
    profile : SourceProfile
        Formats (tried in order per field) and the zone of local times.

    Returns
    -------
    dict of str to ParsedTime
        Per mapped time field, in stage order.
    """
    fields = profile.time_fields
    schema = df.schema
    typed = {
        f
        for f in fields
        if f in profile.columns and isinstance(schema[profile.columns[f]], (pl.Datetime, pl.Date))
    }
    raw = df.select(
        [
            (pl.col(profile.columns[f]) if f in typed else _raw_expr(profile, f, schema)).alias(f)
            for f in fields
        ]
    )
    naive, aware = _native_times(raw, typed)
    clock = {
        f for f in fields if f not in typed and all(map(time_of_day_only, profile.formats_for(f)))
    }
    _parse_text_times(
        raw,
        {f: list(profile.formats_for(f)) for f in fields if f not in typed and f not in clock},
        naive,
        aware,
    )
    rolled = _attach_dates(raw, fields, clock, naive, aware, profile) if clock else {}
    return {
        f: _to_utc(raw[f], naive.get(f), aware.get(f), profile.timezone, rolled.get(f))
        for f in fields
    }


#: strftime directives that carry (part of) a date
_DATE_DIRECTIVES = set("YCyGgmbBhdejDFxsUWVuaAwcv+")


def time_of_day_only(fmt: str) -> bool:
    """True when a format reads a time of day and no date (``%H:%M:%S``, ``%I:%M %p``)."""
    import re

    found = re.findall(r"%[-_0#^]?[.:]*[0-9]*([A-Za-z%+])", fmt)
    return bool(found) and not any(d in _DATE_DIRECTIVES for d in found)


def _raw_expr(profile: SourceProfile, f: str, schema) -> pl.Expr:
    """A time field's text: its column, or its date and time columns joined by a space."""
    if f not in profile.split_columns:
        return raw_text(profile.columns[f])
    date_col, time_col = profile.split_columns[f]
    parts = []
    for col, fmt in ((date_col, "%Y-%m-%d"), (time_col, "%H:%M:%S")):
        dtype = schema[col]
        if isinstance(dtype, (pl.Datetime, pl.Date, pl.Time)):
            parts.append(pl.col(col).dt.strftime(fmt))  # Excel date / time cells
        else:
            parts.append(raw_text(col))
    return pl.concat_str(parts, separator=" ")


def _attach_dates(
    raw: pl.DataFrame,
    fields: list[str],
    clock: set[str],
    naive: dict[str, pl.Series],
    aware: dict[str, pl.Series],
    profile: SourceProfile,
) -> dict[str, pl.Series]:
    """Times of day only: each takes the local date of the stage before it, and the next day
    when it would otherwise go backwards (midnight passed). Returns the rolled-over rows."""
    rolled: dict[str, pl.Series] = {}
    last: pl.Series | None = None
    for f in fields:
        if f in clock:
            tod = None
            for fmt in profile.formats_for(f):
                t = raw[f].str.to_time(fmt, strict=False)
                tod = t if tod is None else tod.zip_with(tod.is_not_null(), t)
            if tod is None:  # pragma: no cover - a field always has a format
                continue
            base = last if last is not None else null_series(raw.height, pl.Datetime("us"))
            since_midnight = (tod.cast(pl.Int64) // 1000).cast(pl.Duration("us"))
            cand = (base.dt.truncate("1d") + since_midnight).alias(f)
            back = (cand < base).fill_null(False)
            naive[f] = cand.zip_with(~back, cand.dt.offset_by("1d"))
            rolled[f] = back
            value = naive[f]
        elif f in naive:
            value = naive[f]
            if f in aware:
                local = aware[f].dt.convert_time_zone(profile.timezone).dt.replace_time_zone(None)
                value = value.zip_with(value.is_not_null(), local)
        elif f in aware:
            value = aware[f].dt.convert_time_zone(profile.timezone).dt.replace_time_zone(None)
        else:
            continue
        last = value if last is None else value.zip_with(value.is_not_null(), last)
    return rolled


def _native_times(
    raw: pl.DataFrame, typed: set[str]
) -> tuple[dict[str, pl.Series], dict[str, pl.Series]]:
    """Native datetime columns: naive (local) ones, and zoned ones converted to UTC."""
    naive: dict[str, pl.Series] = {}
    aware: dict[str, pl.Series] = {}
    for f in raw.columns:
        if f not in typed:
            continue
        s = raw[f]
        tz = s.dtype.time_zone if isinstance(s.dtype, pl.Datetime) else None
        s = s.cast(pl.Datetime("us", tz))
        if tz:
            aware[f] = s.dt.convert_time_zone("UTC")
        else:
            naive[f] = s
    return naive, aware


def _parse_text_times(
    raw: pl.DataFrame,
    todo: dict[str, list[str]],
    naive: dict[str, pl.Series],
    aware: dict[str, pl.Series],
) -> None:
    """Parse text fields into ``naive`` / ``aware``, trying each field's formats in order.

    Each round parses all pending fields in one parallel select; a field stays pending while
    a later format remains and some non-blank value is still unparsed.
    """
    while todo:
        exprs = []
        for f, fmts in todo.items():
            fmt = fmts[0]
            if fmt == EXCEL_SERIAL:
                exprs.append(_excel_serial(pl.col(f)).alias(f))
                continue
            dtype = UTC_TS if any(z in fmt for z in _AWARE) else pl.Datetime("us")
            exprs.append(pl.col(f).str.strptime(dtype, fmt, strict=False, exact=True).alias(f))
        parsed = raw.select(exprs)
        nxt: dict[str, list[str]] = {}
        for f, fmts in todo.items():
            p = parsed[f]
            if isinstance(p.dtype, pl.Datetime) and p.dtype.time_zone:
                p = p.dt.convert_time_zone("UTC")
                aware[f] = p if f not in aware else aware[f].zip_with(aware[f].is_not_null(), p)
            else:
                naive[f] = p if f not in naive else naive[f].zip_with(naive[f].is_not_null(), p)
            done = naive[f].is_not_null() if f in naive else None
            if f in aware:
                done = aware[f].is_not_null() if done is None else done | aware[f].is_not_null()
            assert done is not None  # p was just stored in naive or aware
            if len(fmts) > 1 and (raw[f].is_not_null() & ~done).any():
                nxt[f] = fmts[1:]
        todo = nxt


def _excel_serial(text: pl.Expr) -> pl.Expr:
    """Excel serial day numbers (days since 1899-12-30; the fraction is the time of day) as
    local datetimes, to the nearest millisecond (Excel keeps times as binary fractions)."""
    days = text.str.strip_chars().cast(pl.Float64, strict=False)
    ok = days.is_finite() & (days >= 1) & (days < 2_958_466)  # 1900-01-01 .. 9999-12-31
    ms = (days * 86_400_000).round(0).cast(pl.Int64, strict=False)
    epoch = pl.lit(datetime(1899, 12, 30), pl.Datetime("us"))
    return pl.when(ok).then(epoch + pl.duration(milliseconds=ms)).otherwise(None)


def _to_utc(
    raw: pl.Series,
    nv: pl.Series | None,
    av: pl.Series | None,
    zone: str,
    rolled: pl.Series | None = None,
) -> ParsedTime:
    """Combine one field's local and UTC parses: local ones localised in ``zone``; a value
    parsed with an offset wins over a local reading of it."""
    f = raw.name
    if nv is not None:
        e, lt = localize(nv, zone)
        if av is not None:
            e = av.zip_with(av.is_not_null(), e)
            lt = av.zip_with(av.is_not_null(), lt)
        nonexistent = nv.is_not_null() & e.is_null()
    else:
        if av is None:  # parse_times parses every mapped field, natively or from text
            raise IngestError(f"time field {f!r} has neither a local nor a UTC parse")
        e = lt = av
        nonexistent = pl.repeat(False, len(raw), eager=True)
    parsed_any = e.is_not_null() | nonexistent
    return ParsedTime(
        raw=raw.cast(pl.String),
        early=e.alias(f),
        late=lt.alias(f),
        unparseable=raw.is_not_null() & ~parsed_any,
        nonexistent=nonexistent,
        rolled=rolled,
    )


# ============================================================================ fall-back hour
def resolve_fall_back(
    times: dict[str, ParsedTime], profile: SourceProfile
) -> tuple[dict[str, pl.Series], pl.Series]:
    """Choose early/late readings of fall-back-hour times from the order of the stages.

    Where exactly one choice keeps the stages in order (and gaps within max_interval_s) it
    is taken and flagged ``dst_resolved``; where several do, the one with the shortest span
    is taken and flagged ``dst_ambiguous``; where none does, the earliest readings are kept
    (the row is then rejected for stage order).

    Parameters
    ----------
    times : dict of str to ParsedTime
        From :func:`parse_times`.
    profile : SourceProfile

    Returns
    -------
    chosen : dict of str to polars.Series
        Per field, the UTC reading kept.
    flags : polars.Series
        ``time_flags`` per row: 'dst_resolved', 'dst_ambiguous' or null.
    """
    fields = list(times)
    chosen = {f: times[f].early for f in fields}
    n = len(next(iter(times.values())).early) if times else 0
    flags = null_series(n, pl.String(), "time_flags")
    if not fields:
        return chosen, flags
    amb_mask = pl.repeat(False, n, eager=True)
    for f in fields:
        amb_mask = amb_mask | (times[f].early != times[f].late).fill_null(False)
    idx = amb_mask.arg_true().to_list()
    if not idx:
        return chosen, flags
    early = {f: times[f].early.gather(idx).to_list() for f in fields}
    late = {f: times[f].late.gather(idx).to_list() for f in fields}
    new_vals = {f: list(early[f]) for f in fields}
    flag_vals: list[str | None] = []
    for k in range(len(idx)):
        best, n_ok = _best_reading(
            {f: early[f][k] for f in fields}, {f: late[f][k] for f in fields}, profile
        )
        for f, v in (best or {}).items():
            new_vals[f][k] = v
        flag_vals.append("dst_resolved" if best is not None and n_ok == 1 else "dst_ambiguous")
    idx_s = pl.Series(idx, dtype=pl.UInt32)
    for f in fields:
        chosen[f] = chosen[f].scatter(idx_s, pl.Series(new_vals[f], dtype=UTC_TS))
    flags = flags.scatter(idx_s, pl.Series(flag_vals, dtype=pl.String))
    return chosen, flags


def _best_reading(
    early: dict[str, datetime | None], late: dict[str, datetime | None], profile: SourceProfile
) -> tuple[dict[str, datetime] | None, int]:
    """One row: of every early/late choice for its ambiguous times, the valid one with the
    shortest span (ties: the earliest readings), and how many choices are valid."""
    # the two readings are null together (localize nulls both; a UTC parse sets both)
    readings: dict[str, tuple[datetime, datetime]] = {}
    for f, e in early.items():
        if e is None:
            continue
        lt = late[f]
        if lt is None:
            raise IngestError(f"time field {f!r} has an early reading but no late one")
        readings[f] = (e, lt)
    present = list(readings)
    amb = [f for f in present if readings[f][0] != readings[f][1]][:_MAX_AMBIGUOUS]
    best: tuple[tuple[float, list[datetime]], dict[str, datetime]] | None = None
    n_ok = 0
    for combo in itertools.product((False, True), repeat=len(amb)):
        pick = dict(zip(amb, combo, strict=True))
        vals = [(f, readings[f][1] if pick.get(f) else readings[f][0]) for f in present]
        if not _in_order(vals, profile.max_interval_s):
            continue
        n_ok += 1
        span = (vals[-1][1] - vals[0][1]).total_seconds()
        key = (span, [v for _, v in vals])
        if best is None or key < best[0]:
            best = (key, dict(vals))
    return (best[1] if best is not None else None), n_ok


def _in_order(vals: list[tuple[str, datetime]], max_interval_s: float) -> bool:
    """True when each stage is at or after every stage before it, and consecutive response
    stages are at most ``max_interval_s`` apart."""
    running, prev = None, None
    for f, v in vals:
        if running is not None and v < running:
            return False
        if prev is not None and f in _RESP and prev[0] in _RESP:
            if (v - prev[1]).total_seconds() > max_interval_s:
                return False
        running = v if running is None else max(running, v)
        prev = (f, v)
    return True
