"""The validation rules, one function per family. Each returns the :class:`Check` of every
rule of its family that some row of the chunk fails, in the order the rules rank: a rejected
row's reason is the first rule it fails (:func:`.normalize.normalize_chunk`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from ..io.sources import READ_DETAIL, READ_RAW, READ_REASON, ROW_COL
from ..schema.fields import RESPONSE_STAGES
from .coordinates import Coordinates
from .profiles import SourceProfile
from .times import ChunkTimes

__all__ = [
    "Check",
    "read_checks",
    "duplicate_checks",
    "id_checks",
    "time_checks",
    "stage_order_checks",
    "interval_checks",
    "coordinate_checks",
]

Detail = Callable[[pl.Series], pl.Series]


@dataclass
class Check:
    """One validation rule's verdict on a chunk: which rows fail and how to describe them."""

    mask: pl.Series
    reason: str
    field: str
    value: pl.Series | None  # raw value of the field, full length (gathered lazily)
    detail: Detail  # row indices -> messages


def _add(
    out: list[Check], mask: pl.Series, reason: str, fld: str, value: pl.Series | None, detail
) -> None:
    """Append the rule's check to ``out`` when some row fails it."""
    mask = mask.fill_null(False)
    if mask.any():
        out.append(Check(mask, reason, fld, value, detail))


def _q(s: pl.Series) -> pl.Series:
    return "'" + s.fill_null("") + "'"


def _const(text: str) -> Detail:
    return lambda idx: pl.repeat(text, len(idx), dtype=pl.String, eager=True)


# ============================================================================ reading
def read_checks(df: pl.DataFrame) -> list[Check]:
    """``malformed_row`` and ``bad_encoding``: records the reader could not split into the
    header's fields, or that hold invalid UTF-8 bytes (:mod:`dispatch_analytics.io.csv_rows`).

    Parameters
    ----------
    df : polars.DataFrame
        Raw rows; the check applies only when the reader added its ``_read_*`` columns.

    Returns
    -------
    list of Check
    """
    out: list[Check] = []
    if READ_REASON not in df.columns:
        return out
    reason, detail, raw = df[READ_REASON], df[READ_DETAIL], df[READ_RAW]
    for name in ("malformed_row", "bad_encoding"):
        _add(out, reason == name, name, "", raw, lambda idx, d=detail: d.gather(idx))
    return out


# ============================================================================ duplicates
def duplicate_checks(
    row_hash: pl.Series,
    rows: pl.Series,
    seen: pl.DataFrame | Callable[[pl.Series], pl.DataFrame] | None,
) -> list[Check]:
    """``duplicate_row``: a row equal to an earlier one of the chunk, or to one seen before.

    Parameters
    ----------
    row_hash : polars.Series
        The hash of each row's raw values.
    rows : polars.Series
        ``source_row`` of each row.
    seen : polars.DataFrame, callable or None
        ``row_hash, source, source_row`` of rows seen before (one row per hash), or a
        function returning those rows for the hashes it is given (the store's lookup: only
        the rows of this chunk's hashes are read, never every stored hash).

    Returns
    -------
    list of Check
    """
    out: list[Check] = []
    if callable(seen):
        seen = seen(row_hash)
    seen = seen if seen is not None and seen.height else None
    dup_here = ~row_hash.is_first_distinct()
    dup_before = (
        row_hash.is_in(seen["row_hash"].implode())
        if seen is not None
        else pl.repeat(False, len(row_hash), eager=True)
    )
    if dup_here.any() or dup_before.any():
        keyed = pl.DataFrame({"row_hash": row_hash, ROW_COL: rows})
        detail = functools.partial(_duplicate_detail, keyed, seen)
        _add(out, dup_here | dup_before, "duplicate_row", "", None, detail)
    return out


def _duplicate_detail(keyed: pl.DataFrame, seen: pl.DataFrame | None, idx: pl.Series):
    """'same as row N of FILE' (seen before) or 'same as row N of this file'."""
    sub = keyed[idx]
    here = keyed.filter(pl.col("row_hash").is_in(sub["row_hash"].implode()))
    first_here = here.group_by("row_hash").agg(pl.col(ROW_COL).min().alias("_first"))
    sub = sub.join(first_here, on="row_hash", how="left", maintain_order="left")
    if seen is not None:
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


# ============================================================================ ids
def id_checks(text: pl.DataFrame, profile: SourceProfile) -> list[Check]:
    """``missing_id``: a blank ``incident_id``, a blank ``unit_id`` at unit grain, or a blank
    mapped ``agency`` column without a ``[source] agency`` default.

    Parameters
    ----------
    text : polars.DataFrame
        The canonical text fields (:func:`.columns.map_text`).
    profile : SourceProfile

    Returns
    -------
    list of Check
    """
    out: list[Check] = []
    inc_col = profile.columns.get("incident_id", "incident_id")
    _add(
        out,
        text["incident_id"].is_null(),
        "missing_id",
        "incident_id",
        None,
        _const(f"`incident_id` (column {inc_col!r}) is blank"),
    )
    if profile.grain == "unit":
        unit_col = profile.columns.get("unit_id", "unit_id")
        _add(
            out,
            text["unit_id"].is_null(),
            "missing_id",
            "unit_id",
            None,
            _const(f"`unit_id` (column {unit_col!r}) is blank"),
        )
    if "agency" in profile.columns and profile.default_agency is None:
        agency_col = profile.columns["agency"]
        _add(
            out,
            text["agency"].is_null(),
            "missing_id",
            "agency",
            None,
            _const(
                f"`agency` (column {agency_col!r}) is blank; set a default with "
                "[source] agency = 'NAME'"
            ),
        )
    return out


# ============================================================================ times
def time_checks(
    times: ChunkTimes, profile: SourceProfile, only: tuple[str, ...] | None = None
) -> list[Check]:
    """``unparseable_time`` (per field), ``nonexistent_local_time`` (per field) and
    ``missing_time`` (a blank ``call_received_at``), in that order.

    Parameters
    ----------
    times : ChunkTimes
    profile : SourceProfile
    only : tuple of str, optional
        Check only these fields (per-interval exclusion rejects a row only for its
        ``call_received_at``; the other stages are excluded by :mod:`.stages`).

    Returns
    -------
    list of Check
    """
    out: list[Check] = []
    for f, t in times.parsed.items():
        if only is not None and f not in only:
            continue
        fmts = " or ".join(repr(x) for x in profile.formats_for(f))
        _add(
            out,
            t.unparseable,
            "unparseable_time",
            f,
            t.raw,
            lambda idx, f=f, r=t.raw, m=fmts: (
                f"`{f}` " + _q(r.gather(idx)) + f" does not match {m}"
            ),
        )
    for f, t in times.parsed.items():
        if only is not None and f not in only:
            continue
        _add(
            out,
            t.nonexistent,
            "nonexistent_local_time",
            f,
            t.raw,
            lambda idx, f=f, r=t.raw: (
                f"`{f}` "
                + _q(r.gather(idx))
                + f" does not exist in {profile.timezone} (spring-forward gap)"
            ),
        )
    if "call_received_at" in times.parsed:
        _add(
            out,
            times.raw("call_received_at").is_null(),
            "missing_time",
            "call_received_at",
            None,
            _const("`call_received_at` is blank"),
        )
    return out


def stage_order_checks(times: ChunkTimes, profile: SourceProfile) -> tuple[list[Check], pl.Series]:
    """``stage_order``: a present stage earlier than a present stage before it.

    With ``stage_order = "response"``, stages after the response stages are not rejected
    for their order but flagged.

    Parameters
    ----------
    times : ChunkTimes
    profile : SourceProfile

    Returns
    -------
    checks : list of Check
    late_order : polars.Series
        True where a stage after arrival is out of order and the row is only flagged.
    """
    out: list[Check] = []
    fields, frame = times.fields, times.frame
    late_order = pl.repeat(False, len(times.flags), eager=True)
    if len(fields) <= 1:
        return out, late_order
    bad_cols = frame.select(
        (pl.col(f) < pl.max_horizontal(fields[:i])).fill_null(False).alias(f)
        for i, f in enumerate(fields)
        if i > 0
    )
    for i, f in enumerate(fields[1:], start=1):
        if profile.stage_order == "response" and f not in RESPONSE_STAGES:
            # a stage after arrival out of order: keep the row (its response intervals
            # are sound), flag it
            late_order = late_order | bad_cols[f]
        else:
            detail = functools.partial(_order_detail, times, f, fields[:i])
            _add(out, bad_cols[f], "stage_order", f, times.raw(f), detail)
    return out, late_order


def _order_detail(times: ChunkTimes, f: str, before: list[str], idx: pl.Series) -> pl.Series:
    """ "`f` 'raw' is before `culprit` 'raw'": the first earlier stage that is later."""
    sub = times.frame[idx]
    raws = pl.DataFrame({b: times.raw(b).gather(idx) for b in [*before, f]})
    culprit = sub.select(
        pl.coalesce([pl.when(pl.col(b) > pl.col(f)).then(pl.lit(b)) for b in before])
    ).to_series()
    craw = (
        pl.concat([raws, culprit.alias("_c").to_frame()], how="horizontal")
        .select(pl.coalesce([pl.when(pl.col("_c") == b).then(pl.col(b)) for b in before]))
        .to_series()
    )
    return f"`{f}` " + _q(raws[f]) + " is before `" + culprit + "` " + _q(craw)


def interval_checks(times: ChunkTimes, profile: SourceProfile) -> list[Check]:
    """``interval_too_long``: a gap between consecutive present response stages above
    ``max_interval_s`` (per stage), then a record spanning more than ``max_span_s``.

    Parameters
    ----------
    times : ChunkTimes
    profile : SourceProfile

    Returns
    -------
    list of Check
    """
    out: list[Check] = []
    fields, frame = times.fields, times.frame
    resp = [f for f in fields if f in RESPONSE_STAGES]
    if len(resp) > 1:
        gaps = frame.select(
            (pl.col(f) - pl.coalesce(resp[:i][::-1])).dt.total_seconds().alias(f)
            for i, f in enumerate(resp)
            if i > 0
        )
        for f in resp[1:]:
            g = gaps[f]
            _add(
                out,
                g > profile.max_interval_s,
                "interval_too_long",
                f,
                times.raw(f),
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
        _add(
            out,
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
    return out


# ============================================================================ coordinates
def coordinate_checks(co: Coordinates, profile: SourceProfile, always: bool = False) -> list[Check]:
    """When coordinates are required (or ``always``): ``missing_coordinates``,
    ``unparseable_coordinates``, ``zero_coordinates``, ``coordinates_out_of_range`` and (with a
    bbox) ``coordinates_out_of_area``, each only for rows that pass the ones before.

    Parameters
    ----------
    co : Coordinates
    profile : SourceProfile
    always : bool
        Check even when coordinates are not required (the rows are then kept as unlocated:
        :func:`.normalize.normalize_chunk`).

    Returns
    -------
    list of Check
    """
    out: list[Check] = []
    if not profile.has_coordinates or not (profile.coordinates_required or always):
        return out
    lat, lon, cf, craw = co.lat, co.lon, co.field, co.raw
    _add(out, co.missing, "missing_coordinates", cf, craw, _const(f"`{cf}` is blank"))
    _add(
        out,
        co.unparseable,
        "unparseable_coordinates",
        cf,
        craw,
        lambda idx: f"`{cf}` " + _q(craw.gather(idx)) + " is not a coordinate pair",
    )
    valid = ~co.missing & ~co.unparseable
    zero = (valid & (lat == 0) & (lon == 0)).fill_null(False)
    _add(out, zero, "zero_coordinates", cf, craw, _const(f"`{cf}` is (0, 0)"))
    oor = (
        valid
        & ~zero
        & (lat.is_null() | lon.is_null() | (lat.abs() > 90) | (lon.abs() > 180)).fill_null(True)
    )
    _add(
        out,
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
        _add(
            out,
            valid & ~zero & ~oor & ~inside.fill_null(False),
            "coordinates_out_of_area",
            cf,
            craw,
            lambda idx: (
                f"`{cf}` " + _q(craw.gather(idx)) + f" is outside bbox {list(profile.bbox)}"
            ),
        )
    return out
