"""The SQL of the derived relations, generated from the interval registry.

* :func:`dedupe_sql`: the current record of each unit response, with the unit intervals
  (``responses`` view);
* :func:`incidents_sql`: one row per incident with the incident intervals (``incidents``);
* :func:`interval_rows_sql` / :func:`interval_view_sql`: the long views ``incident_intervals``
  and ``unit_intervals``, one row per record and interval (``metric, value_s,
  excluded_reason``), which the analyst queries and the fractile SQL read.

Every interval column and every ``excluded_reason`` comes from
:data:`dispatch_analytics.schema.intervals.INTERVALS`; nothing here names an interval.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from ..errors import MetricError
from ..schema.intervals import Interval, intervals

__all__ = [
    "INCIDENT_INTERVAL_COLUMNS",
    "UNIT_INTERVAL_COLUMNS",
    "interval_sql",
    "missing_reason_sql",
    "interval_reason_sql",
    "reason_columns",
    "stage_flag_sql",
    "dedupe_sql",
    "incidents_sql",
    "interval_rows_sql",
    "interval_view_sql",
]

#: Columns of ``incidents`` carried by the ``incident_intervals`` view (before metric, value_s,
#: excluded_reason).
INCIDENT_INTERVAL_COLUMNS = (
    "agency",
    "incident_id",
    "call_category",
    "call_type",
    "priority",
    "station_id",
    "first_arriving_unit",
    "call_received_at",
    "call_received_local_at",
    "timezone",
)
#: Columns of ``responses`` carried by the ``unit_intervals`` view.
UNIT_INTERVAL_COLUMNS = (
    "agency",
    "incident_id",
    "unit_id",
    "unit_type",
    "station_id",
    "call_category",
    "call_type",
    "priority",
    "call_received_at",
    "call_received_local_at",
    "timezone",
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VIEWS = {"incident": ("incident_intervals", "incidents"), "unit": ("unit_intervals", "responses")}
_COLUMNS = {"incident": INCIDENT_INTERVAL_COLUMNS, "unit": UNIT_INTERVAL_COLUMNS}


def interval_sql(end: str, start: str) -> str:
    """Seconds from ``start`` to ``end`` (two TIMESTAMPTZ expressions; DST-exact)."""
    return f"(epoch_us({end}) - epoch_us({start})) / 1e6"


def missing_reason_sql(value: str, stamps: Sequence[tuple[str, str]]) -> str:
    """Why ``value`` is NULL: ``'missing <names>'`` of the NULL timestamps among ``stamps``
    (``(expression, canonical name)`` pairs), e.g. ``missing enroute_at and on_scene_at``;
    NULL when the value is there."""
    parts = ", ".join(f"case when {expr} is null then '{name}' end" for expr, name in stamps)
    return (
        f"case when {value} is null then "
        f"'missing ' || coalesce(nullif(concat_ws(' and ', {parts}), ''), 'value') end"
    )


def stage_flag_sql(flags: str, stage: str) -> str:
    """``'<stage> <rule>'`` when ``flags`` (a ``stage_flags`` expression, ``stage:rule;...``)
    excludes ``stage`` (e.g. ``on_scene_at stage_order``), else NULL."""
    rule = f"nullif(regexp_extract({flags}, '(^|;){stage}:([a-z_]+)', 2), '')"
    return f"('{stage} ' || {rule})"


def _flags_column(column: str) -> str:
    """The flags that explain a stored column of ``incidents`` / ``responses``: the
    first-arriving unit's own (``fa_stage_flags``) for its ``fa_*`` times, else the row's."""
    return "fa_stage_flags" if column.startswith("fa_") else "stage_flags"


def reason_columns(iv: Interval) -> list[str]:
    """The columns :func:`interval_reason_sql` reads besides the interval's own (a relation
    that copies an interval's columns must copy these too)."""
    cols = [iv.start_column or "", iv.end_column or ""]
    out = sorted({_flags_column(c) for c in cols} | {"stage_flags"})
    if any(c.startswith("fa_") for c in cols):
        out.append("first_arriving_unit")
    return out


def interval_reason_sql(iv: Interval, alias: str = "") -> str:
    """``excluded_reason`` of a stored interval's value, over a relation with its columns: the
    first excluded stage of its start and end (``dispatched_at stage_order``, from
    ``stage_flags``), else the missing ones (``missing on_scene_at``)."""
    a = f"{alias}." if alias else ""
    if iv.start_column is None or iv.end_column is None:
        raise MetricError(f"stored interval {iv.name!r} needs start_column and end_column")
    missing = missing_reason_sql(
        f"{a}{iv.column}", [(f"{a}{iv.start_column}", iv.start), (f"{a}{iv.end_column}", iv.end)]
    )
    flagged = [
        stage_flag_sql(f"{a}{_flags_column(col)}", stage)
        for col, stage in ((iv.start_column, iv.start), (iv.end_column, iv.end))
    ]
    if iv.start_column.startswith("fa_") or iv.end_column.startswith("fa_"):
        # no first-arriving unit because every arrival was excluded: say so
        flagged.append(
            f"case when {a}first_arriving_unit is null then "
            f"{stage_flag_sql(f'{a}stage_flags', 'on_scene_at')} end"
        )
    return f"case when {a}{iv.column} is null then coalesce({', '.join(flagged)}, {missing}) end"


def _stored_interval_sql(iv: Interval) -> str:
    """:func:`interval_sql` of a stored interval, from its ``start_column`` / ``end_column``."""
    if iv.start_column is None or iv.end_column is None:
        raise MetricError(f"stored interval {iv.name!r} needs start_column and end_column")
    return interval_sql(iv.end_column, iv.start_column)


def _interval_columns(level: str) -> str:
    return "".join(
        f"  {_stored_interval_sql(iv)} as {iv.column},\n" for iv in intervals(level, stored=True)
    )


def dedupe_sql(source: str) -> str:
    """The current record of each assignment of ``source``, with the unit intervals.

    Within one batch, rows of the same (agency, incident, unit) are separate assignments
    (dispatched, cancelled, re-dispatched), numbered ``assignment`` 1, 2, ... in dispatch order
    (ties: the content, never the row order); ``assignments`` is how many the unit has on the
    incident. Across batches the same (agency, incident, unit, assignment) is one record: the
    newest wins (most stages, latest last stage, latest batch)."""
    unit = "agency, incident_id, coalesce(unit_id, '')"
    cols = ", ".join(
        f"{_stored_interval_sql(iv)} as {iv.column}" for iv in intervals("unit", stored=True)
    )
    first_stamp = "coalesce(dispatched_at, enroute_at, on_scene_at, cleared_at, call_received_at)"
    numbered = (
        f"select *, row_number() over (partition by {unit}, batch_id order by {first_stamp} "
        f"nulls last, row_hash) as assignment from {source}"
    )
    return (
        f"select * exclude (_version), "
        f"max(assignment) over (partition by {unit}) as assignments, {cols} "
        f"from (select *, row_number() over (partition by {unit}, assignment order by "
        "stages_recorded desc, last_stage_at desc nulls last, batch_id desc, row_hash desc) "
        f"as _version from ({numbered})) where _version = 1"
    )


def incidents_sql(source: str) -> str:
    """One row per incident (agency, incident_id) from the current unit rows in ``source``."""
    never = "'9999-12-31 00:00:00+00'::timestamptz"
    return f"""with stage_unit as (
  select * from {source}
), per_incident as (
  select
    agency,
    incident_id,
    -- the first-arriving unit's row: earliest on scene, then earliest dispatch, then unit id,
    -- then the unit's assignment number (a unit's rows are unique by it in a current
    -- `responses`: without it a tie picked either row, and a rebuild could pick the other)
    arg_min(struct_pack(call_type, call_category, priority, zipcode, address, unit_id,
                        dispatched_at, enroute_at, on_scene_at, latitude, longitude, timezone,
                        grain, stage_flags),
            struct_pack(o := coalesce(on_scene_at, {never}), d := coalesce(dispatched_at, {never}),
                        u := coalesce(unit_id, ''), a := assignment)) as fa,
    arg_min(station_id, struct_pack(d := coalesce(dispatched_at, {never}),
                                    u := coalesce(unit_id, ''), a := assignment)) as station_id,
    min(call_arrived_at) as call_arrived_at,
    min(call_answered_at) as call_answered_at,
    min(call_received_at) as call_received_at,
    arg_min(call_received_local_at, call_received_at) as call_received_local_at,
    min(call_entered_at) as call_entered_at,
    min(dispatched_at) as first_dispatched_at,
    min(enroute_at) as first_enroute_at,
    min(on_scene_at) as first_on_scene_at,
    max(cleared_at) as last_cleared_at,
    count(distinct unit_id) as units_assigned,
    count(*) as assignments,
    count(on_scene_at) as units_on_scene,
    string_agg(distinct time_flags, ';' order by time_flags) as time_flags,
    -- excluded stages of any unit: why a first time (first_on_scene_at ...) is missing
    string_agg(distinct stage_flags, ';' order by stage_flags) as stage_flags
  from stage_unit
  group by agency, incident_id
), first_arrival as (
  select *,
    case when units_on_scene > 0 then fa.unit_id end as first_arriving_unit,
    case when units_on_scene > 0 then fa.dispatched_at end as fa_dispatched_at,
    case when units_on_scene > 0 then fa.enroute_at end as fa_enroute_at
  from per_incident
)
select
  agency, incident_id, fa.call_type as call_type, fa.call_category as call_category,
  fa.priority as priority, station_id, fa.zipcode as zipcode, fa.address as address,
  call_arrived_at, call_answered_at, call_received_at, call_received_local_at, call_entered_at,
  first_dispatched_at, first_enroute_at, first_on_scene_at, last_cleared_at,
  first_arriving_unit, fa_dispatched_at, fa_enroute_at,
  fa.latitude as latitude, fa.longitude as longitude, units_assigned, units_on_scene,
  assignments,
{_interval_columns("incident")}  fa.timezone as timezone, fa.grain as grain, time_flags,
  stage_flags, fa.stage_flags as fa_stage_flags
from first_arrival"""


def interval_rows_sql(
    source: str,
    ivs: Iterable[Interval],
    columns: Sequence[str],
    where: str | None = None,
    extra: Callable[[Interval], str] | None = None,
) -> str:
    """One row per row of ``source`` and interval: ``columns..., metric, value_s,
    excluded_reason[, extra(iv)]``, as a UNION ALL with one branch per interval (a filter on
    ``metric`` keeps one branch: DuckDB drops the others before reading anything).

    Parameters
    ----------
    source : a relation (or parenthesised select) holding ``columns`` and each interval's
        column and start / end columns
    ivs : stored intervals (:func:`~dispatch_analytics.schema.intervals.intervals`)
    columns : what to carry: column names of ``source``, or select items over its alias ``s``
        (``date_trunc('week', s.local_date) as period_start``)
    where : an optional filter applied in every branch
    extra : more select items per interval (e.g. its target)
    """
    carried = "".join(f"s.{c}, " if _IDENT.fullmatch(c) else f"{c}, " for c in columns)
    cond = f" where {where}" if where else ""
    branches = [
        f"select {carried}'{iv.name}'::varchar as metric, s.{iv.column}::double as value_s, "
        f"{interval_reason_sql(iv, 's')} as excluded_reason"
        + (f", {extra(iv)}" if extra else "")
        + f" from {source} s{cond}"
        for iv in ivs
    ]
    if not branches:
        return (
            f"select {carried}null::varchar as metric, null::double as value_s, "
            f"null::varchar as excluded_reason from {source} s where false"
        )
    return "\nunion all ".join(branches)


def interval_view_sql(level: str | None = None) -> list[str]:
    """``create or replace view`` statements of ``incident_intervals`` and ``unit_intervals``
    (or of one level's), generated from the registry's stored intervals."""
    out = []
    for lvl, (view, table) in _VIEWS.items():
        if level is None or level == lvl:
            # every branch reads one CTE, not the view itself: DuckDB binds ``table``'s view
            # stack once instead of once per interval (measured: p90 of one metric 127 -> 25
            # ms on a 1,700-row store, where binding was most of a query; within noise at 1M
            # incidents; not materialized, so the filter on ``metric`` still drops the other
            # branches before anything is read). See docs/benchmarks.md.
            body = interval_rows_sql("_rows", intervals(lvl, stored=True), _COLUMNS[lvl])
            out.append(
                f"create or replace view {view} as\n"
                f"with _rows as not materialized (select * from {table})\n{body}"
            )
    return out
