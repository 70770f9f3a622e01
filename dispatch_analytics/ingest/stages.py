"""Per-interval exclusion (``on_stage_error = "exclude"``, the default): a bad stage is taken
out of its row, not the row out of the store.

A stage that cannot be read (``unparseable_time``, ``nonexistent_local_time``), that is out of
order (``stage_order``) or that comes too long after the stage before it
(``interval_too_long``: ``max_interval_s`` between response stages, ``max_span_s`` from the
call) is set to NULL, so every interval that uses it is excluded from that interval's
statistics (with the reason, through ``stage_flags``) while the row's other intervals count.
``call_received_at`` is never excluded: without it the row is unusable and is rejected
(:func:`.rules.time_checks`).

Out of order means: the fewest stages are excluded that leave the rest in order, keeping
``call_received_at`` and, between equally small choices, the earlier stages (a unit that
cleared before it arrived loses its clear time, not its arrival).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import polars as pl

from ..schema.fields import RESPONSE_STAGES
from .profiles import SourceProfile
from .times import UTC_TS, ChunkTimes

__all__ = ["StageExclusion", "exclude_stages", "keep_in_order"]

_RECEIVED = "call_received_at"


@dataclass
class StageExclusion:
    """The stages kept per row, and what was excluded and why."""

    #: mapped time field -> UTC reading, NULL where excluded
    kept: dict[str, pl.Series]
    #: ``stage:rule;stage:rule`` per row (stage order), or NULL
    flags: pl.Series
    #: JSON object ``{"stage": "raw text"}`` of the excluded stages, or NULL
    raw: pl.Series


def keep_in_order(values: list, anchor: int | None) -> list[int]:
    """Indices of the longest non-decreasing subsequence of ``values`` that keeps ``anchor``;
    between equally long ones, the lexicographically smallest (earlier stages kept).

    Parameters
    ----------
    values : list
        Comparable values in stage order (no None).
    anchor : int or None
        An index that must be kept (``call_received_at``).

    Returns
    -------
    list of int
    """
    n = len(values)
    ok = [
        anchor is None
        or i == anchor
        or (i < anchor and values[i] <= values[anchor])
        or (i > anchor and values[i] >= values[anchor])
        for i in range(n)
    ]
    best: list[tuple[int, ...] | None] = [None] * n
    for i in range(n - 1, -1, -1):
        if not ok[i]:
            continue
        tail: tuple[int, ...] = ()
        for j in range(i + 1, n):
            cand = best[j]
            if cand is not None and values[j] >= values[i] and _better(cand, tail):
                tail = cand
        best[i] = (i, *tail)
    winner: tuple[int, ...] = ()
    for cand in best:
        if cand is not None and _better(cand, winner):
            winner = cand
    return list(winner)


def _better(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """Longer wins; at equal length the smaller indices (earlier stages kept)."""
    return len(a) > len(b) or (len(a) == len(b) and a < b)


def exclude_stages(times: ChunkTimes, profile: SourceProfile) -> StageExclusion:
    """Exclude the unreadable, out-of-order and too-late stages of every row.

    Parameters
    ----------
    times : ChunkTimes
    profile : SourceProfile
        ``max_interval_s`` and ``max_span_s``.

    Returns
    -------
    StageExclusion
    """
    fields = times.fields
    n = len(times.flags)
    kept = dict(times.chosen)
    rules: dict[str, pl.Series] = {}  # field -> rule name per row (NULL: kept)

    def flag(f: str, mask: pl.Series, rule: str) -> None:
        mask = mask.fill_null(False)
        if not mask.any():
            return
        prev = rules.get(f, pl.repeat(None, n, dtype=pl.String, eager=True))
        rules[f] = prev.zip_with(prev.is_not_null() | ~mask, pl.repeat(rule, n, eager=True))
        kept[f] = kept[f].zip_with(~mask, pl.repeat(None, n, dtype=UTC_TS, eager=True))

    for f in fields:
        if f == _RECEIVED:
            continue
        flag(f, times.parsed[f].unparseable, "unparseable_time")
        flag(f, times.parsed[f].nonexistent, "nonexistent_local_time")
    _order(kept, fields, flag)
    _gaps(kept, fields, profile, flag)
    return StageExclusion(kept, *_flag_columns(times, rules, n))


def _order(kept: dict[str, pl.Series], fields: list[str], flag) -> None:
    """``stage_order``: rows with a stage earlier than one before it, fixed by
    :func:`keep_in_order` (row by row, only for the rows out of order)."""
    if len(fields) <= 1:
        return
    frame = pl.DataFrame([kept[f] for f in fields])
    bad = frame.select(
        pl.any_horizontal(
            [
                (pl.col(f) < pl.max_horizontal(fields[:i])).fill_null(False)
                for i, f in enumerate(fields)
                if i > 0
            ]
        )
    ).to_series()
    idx = bad.arg_true()
    if idx.is_empty():
        return
    masks = {f: [False] * len(bad) for f in fields}
    for i, row in zip(idx.to_list(), frame[idx].iter_rows(), strict=True):
        present = [(f, v) for f, v in zip(fields, row, strict=True) if v is not None]
        names = [f for f, _ in present]
        anchor = names.index(_RECEIVED) if _RECEIVED in names else None
        keep = set(keep_in_order([v for _, v in present], anchor))
        for k, f in enumerate(names):
            if k not in keep:
                masks[f][i] = True
    for f, m in masks.items():
        flag(f, pl.Series(m, dtype=pl.Boolean), "stage_order")


def _gaps(kept: dict[str, pl.Series], fields: list[str], profile: SourceProfile, flag) -> None:
    """``interval_too_long``: a response stage more than ``max_interval_s`` after the last
    kept stage before it; any stage more than ``max_span_s`` from ``call_received_at``."""
    resp = [f for f in fields if f in RESPONSE_STAGES]
    prev: pl.Series | None = None
    for f in resp:
        if prev is not None:
            gap = (kept[f] - prev).dt.total_seconds()
            flag(f, gap > profile.max_interval_s, "interval_too_long")
        prev = kept[f] if prev is None else kept[f].zip_with(kept[f].is_not_null(), prev)
    if _RECEIVED not in kept:
        return
    for f in fields:
        if f != _RECEIVED:
            span = (kept[f] - kept[_RECEIVED]).dt.total_seconds().abs()
            flag(f, span > profile.max_span_s, "interval_too_long")


def _flag_columns(
    times: ChunkTimes, rules: dict[str, pl.Series], n: int
) -> tuple[pl.Series, pl.Series]:
    """``stage_flags`` (``stage:rule;...``) and ``stage_raw`` (JSON of the excluded stages'
    raw text) per row."""
    if not rules:
        nulls = pl.repeat(None, n, dtype=pl.String, eager=True)
        return nulls.alias("stage_flags"), nulls.alias("stage_raw")
    order = [f for f in times.fields if f in rules]
    parts = [pl.when(rules[f].is_not_null()).then(pl.lit(f + ":") + rules[f]) for f in order]
    frame = pl.DataFrame({f: rules[f] for f in order})
    flags = frame.select(pl.concat_str(parts, separator=";", ignore_nulls=True)).to_series()
    flags = flags.replace("", None).alias("stage_flags")
    raws = {f: times.raw(f) for f in order}
    out: list[str | None] = [None] * n
    for i in flags.is_not_null().arg_true().to_list():
        obj = {f: raws[f][i] for f in order if rules[f][i] is not None}
        out[i] = json.dumps(obj, ensure_ascii=False)
    return flags, pl.Series("stage_raw", out, dtype=pl.String)
