"""One chunk of raw rows -> canonical accepted rows and rejected rows (each with a reason).

The steps: map the text fields (:mod:`.columns`), parse the times (:mod:`.times`) and the
coordinates (:mod:`.coordinates`), run the rules (:mod:`.rules`), then assemble the two
frames. A rejected row's reason is the first rule it fails; its detail lists every rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import polars as pl

from ..io.sources import READ_COLUMNS, READ_RAW, ROW_COL
from ..schema.fields import STAGE_ORDER
from ..schema.tables import REJECT_SCHEMA, RESPONSE_SCHEMA
from .columns import map_text, null_series
from .coordinates import Coordinates, parse_coordinates
from .profiles import SourceProfile
from .rules import (
    Check,
    coordinate_checks,
    duplicate_checks,
    id_checks,
    interval_checks,
    read_checks,
    stage_order_checks,
    time_checks,
)
from .stages import StageExclusion, exclude_stages
from .times import UTC_TS, ChunkTimes, read_times

__all__ = ["normalize_chunk"]


@dataclass(frozen=True)
class _Lineage:
    """Where a chunk's rows come from, recorded on every accepted and rejected row."""

    profile: SourceProfile
    source: str
    batch_id: str
    rows: pl.Series  # source_row
    row_hash: pl.Series


def normalize_chunk(
    df: pl.DataFrame,
    profile: SourceProfile,
    source: str,
    batch_id: str,
    seen: pl.DataFrame | Callable[[pl.Series], pl.DataFrame] | None = None,
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
    seen : polars.DataFrame or callable, optional
        ``row_hash, source, source_row`` of rows seen before (stored or earlier chunks), or
        a function returning them for the chunk's row hashes; rows with the same hash are
        rejected as ``duplicate_row``.
    raw_columns : list of str, optional
        Columns that make up a row's identity (default: all but ``source_row``).

    Returns
    -------
    accepted, rejects : polars.DataFrame
        Frames with :data:`RESPONSE_SCHEMA` and :data:`REJECT_SCHEMA` columns; every input
        row is in exactly one of them.
    """
    raw_columns = raw_columns or [c for c in df.columns if c != ROW_COL and c not in READ_COLUMNS]
    row_hash = _row_hash(df, raw_columns)
    lineage = _Lineage(profile, source, batch_id, df[ROW_COL], row_hash)
    text = map_text(df, profile)
    times = read_times(df, profile)
    coords = parse_coordinates(df, profile)
    unread = read_checks(df)
    checks = [
        *duplicate_checks(row_hash, lineage.rows, seen),
        *id_checks(text, profile),
    ]
    if profile.on_stage_error == "exclude":
        excluded = exclude_stages(times, profile)
        late_order = pl.repeat(False, df.height, eager=True)
        checks += time_checks(times, profile, only=("call_received_at",))
    else:
        excluded = None
        order, late_order = stage_order_checks(times, profile)
        checks += [*time_checks(times, profile), *order, *interval_checks(times, profile)]
    checks += coordinate_checks(coords, profile)
    checks = [*unread, *_unless_unread(checks, unread)]
    coords = _unlocated(coords, profile)
    accepted = _accepted_rows(text, times, coords, late_order, lineage, excluded)
    if not checks:
        return _conform(accepted, RESPONSE_SCHEMA), pl.DataFrame(schema=REJECT_SCHEMA)
    first = _first_failure(checks)
    keep = [*raw_columns, *(c for c in READ_COLUMNS if c in df.columns)]
    rejects = _rejected_rows(df[keep], text, checks, first, lineage)
    return _conform(accepted.filter(first.is_null()), RESPONSE_SCHEMA), rejects


def _unlocated(coords: Coordinates, profile: SourceProfile) -> Coordinates:
    """Coordinates not required: a row whose coordinates fail a coordinate rule keeps its times
    and is unlocated: latitude / longitude blank, the rule in ``location_flag``."""
    if not profile.has_coordinates or profile.coordinates_required:
        return coords
    soft = coordinate_checks(coords, profile, always=True)
    if not soft:
        return coords
    flag = pl.select(
        pl.coalesce([pl.when(c.mask).then(pl.lit(c.reason)) for c in soft])
    ).to_series()
    ok = flag.is_null()
    nulls = null_series(len(flag), pl.Float64())
    return replace(
        coords, lat=coords.lat.zip_with(ok, nulls), lon=coords.lon.zip_with(ok, nulls), flag=flag
    )


def _unless_unread(checks: list[Check], unread: list[Check]) -> list[Check]:
    """The checks with the rows the reader could not read taken out (their blank fields are
    not further problems)."""
    if not unread:
        return checks
    bad = unread[0].mask
    for c in unread[1:]:
        bad = bad | c.mask
    out = []
    for c in checks:
        mask = c.mask & ~bad
        if mask.any():
            out.append(Check(mask, c.reason, c.field, c.value, c.detail))
    return out


def _row_hash(df: pl.DataFrame, raw_columns: list[str]) -> pl.Series:
    """The hash of each row's raw values; a row the reader could not split into fields
    (``malformed_row``, ``bad_encoding``) is hashed by its raw text."""
    fields = pl.struct([pl.col(c).cast(pl.String) for c in raw_columns]).hash(0)
    if READ_RAW in df.columns:
        fields = (
            pl.when(pl.col(READ_RAW).is_not_null()).then(pl.col(READ_RAW).hash(1)).otherwise(fields)
        )
    return df.select(fields).to_series().alias("row_hash")


def _conform(df: pl.DataFrame, schema: dict) -> pl.DataFrame:
    return df.select([pl.col(c).cast(t) for c, t in schema.items()])


def _accepted_rows(
    text: pl.DataFrame,
    times: ChunkTimes,
    coords: Coordinates,
    late_order: pl.Series,
    lineage: _Lineage,
    excluded: StageExclusion | None,
) -> pl.DataFrame:
    """Every row of the chunk as a canonical row (the caller drops the rejected ones)."""
    profile, n = lineage.profile, text.height
    stages = excluded.kept if excluded is not None else times.chosen
    stage_frame = pl.DataFrame(
        [stages[f].alias(f) if f in stages else null_series(n, UTC_TS, f) for f in STAGE_ORDER]
    )
    nulls = null_series(n, pl.String())
    flag_frame = pl.DataFrame(
        {
            "stage_flags": excluded.flags if excluded is not None else nulls,
            "stage_raw": excluded.raw if excluded is not None else nulls,
        }
    )
    time_flags = (
        pl.select(
            pl.concat_str(
                [times.flags, pl.when(late_order).then(pl.lit("stage_order_after_arrival"))],
                separator=";",
                ignore_nulls=True,
            )
        )
        .to_series()
        .replace("", None)
    )
    coord_frame = pl.DataFrame(
        {
            "latitude": coords.lat,
            "longitude": coords.lon,
            "location_flag": coords.flag
            if coords.flag is not None
            else null_series(n, pl.String()),
        }
    )
    return pl.concat([text, stage_frame, coord_frame, flag_frame], how="horizontal").with_columns(
        timezone=pl.lit(profile.timezone),
        call_received_local_at=pl.col("call_received_at")
        .dt.convert_time_zone(profile.timezone)
        .dt.replace_time_zone(None),
        time_flags=time_flags,
        stages_recorded=pl.sum_horizontal(
            [pl.col(f).is_not_null().cast(pl.Int16) for f in STAGE_ORDER]
        ).cast(pl.Int16),
        last_stage_at=pl.max_horizontal(list(STAGE_ORDER)),
        grain=pl.lit(profile.grain),
        profile=pl.lit(profile.name),
        source=pl.lit(lineage.source),
        batch_id=pl.lit(lineage.batch_id),
        source_row=lineage.rows,
        row_hash=lineage.row_hash,
    )


def _masks(checks: list[Check]) -> pl.DataFrame:
    return pl.DataFrame({f"m{i}": c.mask for i, c in enumerate(checks)})


def _first_failure(checks: list[Check]) -> pl.Series:
    """Per row, the index of the first check it fails (null: the row is accepted)."""
    return (
        _masks(checks)
        .select(
            pl.coalesce(
                [pl.when(pl.col(f"m{i}")).then(pl.lit(i, pl.Int16)) for i in range(len(checks))]
            )
        )
        .to_series()
    )


def _first_problem(checks: list[Check], first: pl.Series, rej_idx: pl.Series) -> pl.DataFrame:
    """Per rejected row (in row order): field, reason, value and detail of its first check."""
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
                    else null_series(len(idx), pl.String()),
                    "detail": c.detail(idx).cast(pl.String),
                }
            )
        )
    return pl.concat(parts).sort("_pos")


def _full_detail(checks: list[Check], rej_idx: pl.Series, first_detail: pl.Series) -> pl.Series:
    """The first problem's detail, plus '(all problems: ...)' when a row fails several."""
    every = (
        _masks(checks)[rej_idx]
        .select(
            pl.concat_list(
                [pl.when(pl.col(f"m{i}")).then(pl.lit(c.reason)) for i, c in enumerate(checks)]
            )
            .list.drop_nulls()
            .list.unique(maintain_order=True)
        )
        .to_series()
    )
    more = every.list.len() > 1
    return pl.select(
        pl.when(more)
        .then(pl.format("{} (all problems: {})", first_detail, every.list.join(", ")))
        .otherwise(first_detail)
    ).to_series()


def _rejected_rows(
    raw: pl.DataFrame,
    text: pl.DataFrame,
    checks: list[Check],
    first: pl.Series,
    lineage: _Lineage,
) -> pl.DataFrame:
    """The rejected rows: lineage, first problem, every problem, and the raw row as JSON."""
    rej_idx = first.is_not_null().arg_true()
    info = _first_problem(checks, first, rej_idx)
    sub = raw[rej_idx]
    raw_json = sub.select(
        pl.struct([pl.col(c).cast(pl.String) for c in raw.columns if c not in READ_COLUMNS])
        .struct.json_encode()
        .alias("raw_row")
    ).to_series()
    if READ_RAW in sub.columns:
        text_json = sub.select(pl.struct(pl.col(READ_RAW).alias("raw_text")).struct.json_encode())
        raw_json = raw_json.zip_with(sub[READ_RAW].is_null(), text_json.to_series())
    k = len(rej_idx)
    rejects = pl.DataFrame(
        {
            "source": pl.repeat(lineage.source, k, dtype=pl.String, eager=True),
            "source_row": lineage.rows.gather(rej_idx),
            "field": info["field"],
            "reason": info["reason"],
            "value": info["value"],
            "detail": _full_detail(checks, rej_idx, info["detail"]),
            "agency": text["agency"].gather(rej_idx),
            "incident_id": text["incident_id"].gather(rej_idx),
            "raw_row": raw_json,
            "profile": pl.repeat(lineage.profile.name, k, dtype=pl.String, eager=True),
            "batch_id": pl.repeat(lineage.batch_id, k, dtype=pl.String, eager=True),
            "row_hash": lineage.row_hash.gather(rej_idx),
        }
    )
    return _conform(rejects, REJECT_SCHEMA)
