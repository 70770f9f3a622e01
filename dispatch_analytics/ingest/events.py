"""Status logs (``grain = "event"``): one row per status change, pivoted to one unit response
per (incident, unit, assignment).

``[statuses]`` maps the CAD's codes to stages. Within a unit's events on an incident (in time
order; ties: the file's row order), a dispatch after the unit cleared starts a new assignment;
each stage of an assignment takes the first time it was set. Events without a unit whose code
maps to a call stage (``call_received_at``, ...) belong to every assignment of the incident.

Every event is accounted for: an event that cannot be used (no id, an unknown or blank code, an
unreadable time, a copy of an earlier event) is rejected on its own; the events of a response
that is rejected as a whole (no call-received time, ...) are rejected with its reason; all other
events are accepted, folded into their response (rows in = accepted + rejected, in events). The
pivoted responses then go through the same rules as any unit-grain row
(:func:`.normalize.normalize_chunk`).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable

import polars as pl

from ..io.sources import ROW_COL
from ..schema.fields import STAGE_ORDER
from ..schema.tables import REJECT_SCHEMA
from .columns import raw_text, text_expr
from .normalize import normalize_chunk
from .profiles import SourceProfile
from .times import parse_times

__all__ = ["normalize_events"]

_ISO = "%Y-%m-%dT%H:%M:%S%.f%:z"
_CALL_STAGES = frozenset(STAGE_ORDER[: STAGE_ORDER.index("dispatched_at")])
_CARRIED = (
    "unit_type",
    "station_id",
    "call_type",
    "call_category",
    "priority",
    "address",
    "zipcode",
)


def normalize_events(
    df: pl.DataFrame,
    profile: SourceProfile,
    source: str,
    batch_id: str,
    seen: pl.DataFrame | Callable[[pl.Series], pl.DataFrame] | None,
    raw_columns: list[str],
) -> tuple[pl.DataFrame, pl.DataFrame, Counter, int]:
    """Pivot a status log and validate the responses.

    Parameters
    ----------
    df : polars.DataFrame
        Every raw event of the file (``source_row`` + its columns).
    profile : SourceProfile
        ``grain = "event"``.
    source, batch_id : str
    seen : polars.DataFrame or callable, optional
        Row hashes stored before (or a lookup of them, as for
        :func:`~.normalize.normalize_chunk`): a pivoted response equal to a stored one is a
        duplicate.
    raw_columns : list of str

    Returns
    -------
    accepted : polars.DataFrame
        One canonical row per (incident, unit, assignment).
    rejects : polars.DataFrame
        One row per rejected event.
    unknown : collections.Counter
        Unknown (or blank) status codes and how many events had them.
    events_accepted : int
        Events folded into accepted responses (``df.height`` minus the rejected events).
    """
    ev = _events(df, profile, raw_columns)
    ev = ev.with_columns(_reason=_event_problems())
    unknown = Counter(
        ev.filter(pl.col("_reason") == "unknown_status")["_code"].fill_null("(blank)").to_list()
    )
    good = _assignments(ev.filter(pl.col("_reason").is_null()))
    if good.height == 0:
        bad = ev["_reason"].is_not_null()
        out = _event_rejects(df.filter(bad), ev.filter(bad), profile, source, batch_id, raw_columns)
        return pl.DataFrame(), out, unknown, 0
    wide, members = _pivot(good)
    # call events (no unit) of an incident that no unit has a status on: nothing to fold into
    orphan = ~good[ROW_COL].is_in(members[ROW_COL].implode())
    ev = ev.with_columns(
        _reason=pl.when(pl.col(ROW_COL).is_in(good.filter(orphan)[ROW_COL].implode()))
        .then(pl.lit("missing_id"))
        .otherwise(pl.col("_reason"))
    )
    bad = ev["_reason"].is_not_null()
    rejects = [
        _event_rejects(df.filter(bad), ev.filter(bad), profile, source, batch_id, raw_columns)
    ]
    if wide.height == 0:
        return pl.DataFrame(), pl.concat(rejects), unknown, 0
    synth = _unit_profile(profile, wide)
    acc, rej = normalize_chunk(
        wide, synth, source, batch_id, seen, [c for c in wide.columns if c != ROW_COL]
    )
    acc = acc.with_columns(grain=pl.lit("event"))
    if rej.height:
        rejects.append(_expand(rej, members, df, raw_columns))
    out = pl.concat(rejects, how="vertical")
    return acc, out, unknown, df.height - out.height


def _events(df: pl.DataFrame, profile: SourceProfile, raw_columns: list[str]) -> pl.DataFrame:
    """Each event: ids, code, stage, UTC time, the carried text fields, and its row hash."""
    cols = profile.columns
    at = dataclasses.replace(
        profile, columns={"call_received_at": cols["status_at"]}, split_columns={}, field_formats={}
    )
    when = parse_times(df, at)["call_received_at"]
    code = df.select(raw_text(cols["status"])).to_series()
    extra = {f: _col(df, text_expr(profile, f)) for f in _CARRIED}
    coords = [c for c in ("latitude", "longitude", "location") if c in cols]
    received = None
    if "call_received_at" in cols or "call_received_at" in profile.split_columns:
        own = dataclasses.replace(
            profile, columns={k: v for k, v in cols.items() if k == "call_received_at"}
        )
        received = parse_times(df, own)["call_received_at"].early
    return pl.DataFrame(
        {
            ROW_COL: df[ROW_COL],
            "agency": _col(df, text_expr(profile, "agency")),
            "incident_id": _col(df, text_expr(profile, "incident_id")),
            "unit_id": _col(df, text_expr(profile, "unit_id")),
            "_code": code,
            "_stage": code.replace_strict(profile.statuses, default=None, return_dtype=pl.String),
            "_at": when.early,
            "_bad_time": when.unparseable | when.nonexistent,
            "_received": received
            if received is not None
            else pl.repeat(None, df.height, dtype=when.early.dtype, eager=True),
            "_hash": df.select(
                pl.struct([pl.col(c).cast(pl.String) for c in raw_columns]).hash(0)
            ).to_series(),
            **extra,
            **{f"_{c}": df.select(raw_text(cols[c])).to_series() for c in coords},
        }
    )


def _col(df: pl.DataFrame, expr: pl.Expr) -> pl.Series:
    """An expression over ``df`` as a full-length series (a literal is repeated)."""
    return df.with_columns(expr.alias("__col"))["__col"]


def _event_problems() -> pl.Expr:
    """Per event, why it cannot be used (NULL: usable), in rule order."""
    call_event = pl.col("_stage").is_in(list(_CALL_STAGES))
    return (
        pl.when(~pl.col("_hash").is_first_distinct())
        .then(pl.lit("duplicate_row"))
        .when(pl.col("incident_id").is_null())
        .then(pl.lit("missing_id"))
        .when(pl.col("_code").is_null() | pl.col("_stage").is_null())
        .then(pl.lit("unknown_status"))
        .when(pl.col("unit_id").is_null() & ~call_event)
        .then(pl.lit("missing_id"))
        .when(pl.col("_bad_time"))
        .then(pl.lit("unparseable_time"))
        .when(pl.col("_at").is_null())
        .then(pl.lit("missing_time"))
    )


def _assignments(ev: pl.DataFrame) -> pl.DataFrame:
    """Number each unit's assignments on an incident: a dispatch after a clear starts one."""
    ev = ev.sort(["agency", "incident_id", "unit_id", "_at", ROW_COL], nulls_last=True)
    keys = ev.select("agency", "incident_id", "unit_id").rows()
    stages = ev["_stage"].to_list()
    out, prev, n, cleared = [], None, 0, False
    for key, stage in zip(keys, stages, strict=True):
        if key != prev:
            prev, n, cleared = key, 1, False
        elif stage == "dispatched_at" and cleared:
            n, cleared = n + 1, False
        if stage == "cleared_at":
            cleared = True
        out.append(n)
    return ev.with_columns(pl.Series("_assignment", out, dtype=pl.Int32))


def _pivot(ev: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One text row per (incident, unit, assignment) in canonical column names, and the
    events (``source_row``) of each (by the response's ``source_row``: its first event)."""
    key = ["agency", "incident_id", "unit_id", "_assignment"]
    units = ev.filter(pl.col("unit_id").is_not_null())
    calls = ev.filter(pl.col("unit_id").is_null())
    stage_cols = [s for s in STAGE_ORDER if s in set(ev["_stage"].to_list())]
    firsts = [pl.col("_at").filter(pl.col("_stage") == s).min().alias(s) for s in stage_cols]
    texts = [pl.col(f).drop_nulls().first().alias(f) for f in _CARRIED]
    texts += [
        pl.col(c).drop_nulls().first().alias(c)
        for c in ev.columns
        if c.startswith("_lat") or c.startswith("_lon") or c.startswith("_loc")
    ]
    wide = units.group_by(key, maintain_order=True).agg(
        pl.col(ROW_COL).min(), pl.col("_received").min(), *firsts, *texts
    )
    call_firsts = calls.group_by(["agency", "incident_id"]).agg(
        [
            pl.col("_at").filter(pl.col("_stage") == s).min().alias(f"_call_{s}")
            for s in stage_cols
            if s in _CALL_STAGES
        ]
    )
    wide = wide.join(call_firsts, on=["agency", "incident_id"], how="left")
    for s in stage_cols:
        if s in _CALL_STAGES:
            wide = wide.with_columns(pl.min_horizontal(s, f"_call_{s}").alias(s))
    if "call_received_at" not in stage_cols:
        wide = wide.with_columns(pl.col("_received").alias("call_received_at"))
        stage_cols = ["call_received_at", *stage_cols]
    else:
        wide = wide.with_columns(
            pl.min_horizontal("call_received_at", "_received").alias("call_received_at")
        )
    members = units.join(wide.select(*key, pl.col(ROW_COL).alias("_first")), on=key).select(
        ROW_COL, "_first"
    )
    call_members = (
        calls.join(
            wide.select("agency", "incident_id", pl.col(ROW_COL).alias("_first")),
            on=["agency", "incident_id"],
        )
        .group_by(ROW_COL)
        .agg(pl.col("_first").min())
    )
    members = pl.concat([members, call_members])
    text = wide.select(
        ROW_COL,
        "agency",
        "incident_id",
        "unit_id",
        *[pl.col(s).dt.strftime(_ISO).alias(s) for s in STAGE_ORDER if s in stage_cols],
        *_CARRIED,
        *[
            pl.col(c).alias(c[1:])
            for c in wide.columns
            if c in ("_latitude", "_longitude", "_location")
        ],
    )
    return text, members


def _unit_profile(profile: SourceProfile, wide: pl.DataFrame) -> SourceProfile:
    """The profile that reads the pivoted rows: canonical names, ISO times with offsets."""
    mapped = {c: c for c in wide.columns if c != ROW_COL and c != "agency"}
    if "agency" in profile.columns:
        mapped["agency"] = "agency"
    consts = {k: v for k, v in profile.constants.items() if k not in mapped}
    return dataclasses.replace(
        profile,
        grain="unit",
        columns=mapped,
        constants=consts,
        split_columns={},
        id_hash=(),
        timestamp_formats=(_ISO,),
        field_formats={},
        statuses={},
    )


def _event_rejects(
    raw: pl.DataFrame,
    ev: pl.DataFrame,
    profile: SourceProfile,
    source: str,
    batch_id: str,
    raw_columns: list[str],
) -> pl.DataFrame:
    """The rejects of events that could not be used."""
    k = raw.height
    status_col = profile.columns["status"]
    detail = {
        "duplicate_row": "an exact copy of an earlier event of this file",
        "missing_id": "the incident id (or the unit, for a unit status) is blank",
        "unknown_status": f"status code (column {status_col!r}) is not in [statuses]",
        "unparseable_time": "the status time does not match the timestamp formats",
        "missing_time": "the status time is blank",
    }
    return pl.DataFrame(
        {
            "source": pl.repeat(source, k, dtype=pl.String, eager=True),
            ROW_COL: raw[ROW_COL],
            "field": ev["_reason"].replace_strict(
                {
                    "unknown_status": "status",
                    "unparseable_time": "status_at",
                    "missing_time": "status_at",
                    "missing_id": "incident_id",
                    "duplicate_row": "",
                },
                return_dtype=pl.String,
            ),
            "reason": ev["_reason"],
            "value": ev["_code"],
            "detail": ev["_reason"].replace_strict(detail, return_dtype=pl.String),
            "agency": ev["agency"],
            "incident_id": ev["incident_id"],
            "raw_row": raw.select(
                pl.struct([pl.col(c).cast(pl.String) for c in raw_columns]).struct.json_encode()
            ).to_series(),
            "profile": pl.repeat(profile.name, k, dtype=pl.String, eager=True),
            "batch_id": pl.repeat(batch_id, k, dtype=pl.String, eager=True),
            "row_hash": ev["_hash"],
        },
        schema=REJECT_SCHEMA,
    )


def _expand(
    rej: pl.DataFrame, members: pl.DataFrame, df: pl.DataFrame, raw_columns: list[str]
) -> pl.DataFrame:
    """A rejected response's reject row, once per event it was built from."""
    per_event = members.join(
        rej.rename({ROW_COL: "_first"}).drop("raw_row", "row_hash"), on="_first"
    )
    raw = df.filter(pl.col(ROW_COL).is_in(per_event[ROW_COL].implode())).select(
        ROW_COL,
        pl.struct([pl.col(c).cast(pl.String) for c in raw_columns])
        .struct.json_encode()
        .alias("raw_row"),
        pl.struct([pl.col(c).cast(pl.String) for c in raw_columns]).hash(0).alias("row_hash"),
    )
    out = per_event.join(raw, on=ROW_COL).select(list(REJECT_SCHEMA))
    return out.select([pl.col(c).cast(t) for c, t in REJECT_SCHEMA.items()])
