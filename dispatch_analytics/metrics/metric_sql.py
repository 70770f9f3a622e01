"""The SQL behind :meth:`Fractiles.from_store`: the rows of one metric (with why each missing
value is missing), grouped and matched with the targets, then one ``da_fractiles`` call
(:func:`.fractile_sql.fractile_sql`).

Stored intervals (their column and ``excluded_reason``) come from the interval registry; the
first-due and effective-response-force values are computed here from the unit rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..schema.intervals import Interval
from ..store.derived_sql import interval_reason_sql, missing_reason_sql
from .fractile_sql import fractile_sql, pcol, sql_literal
from .grouping import Group, filter_sql
from .targets import Entry

__all__ = ["family", "MetricQuery", "build_sql", "out_of_scope_sql", "SCOPE_COLUMN"]

_FA_JOIN = (
    "\n  left join responses fa on fa.agency = i.agency and fa.incident_id = i.incident_id "
    "and fa.unit_id = i.first_arriving_unit"
)
_INCIDENT_DIMS = (
    "i.agency, i.incident_id, i.call_category, i.call_type, i.priority, i.station_id as station,\n"
    "    i.first_arriving_unit as unit, {unit_type} as unit_type, i.call_received_at, "
    "i.call_received_local_at, i.timezone"
)
#: incidents column of a canonical start timestamp (first unit's) for ERF
_FIRST = {"call_received_at": "i.call_received_at", "enroute_at": "i.first_enroute_at"}


def family(mdef: Interval) -> str:
    """``incident`` / ``unit`` (a stored interval), ``first_due`` or ``erf``."""
    if mdef.level == "unit":
        return "unit"
    if mdef.name.startswith("first_due_"):
        return "first_due"
    if mdef.name.startswith("erf_"):
        return "erf"
    return "incident"


@dataclass
class MetricQuery:
    """Everything :func:`build_sql` needs."""

    mdef: Interval
    groups: list[Group]
    entries: list[Entry]
    filters: dict[str, Any]
    percentiles: Sequence[float]
    params: dict[str, Any]
    station_layer: str | None = None
    density_layer: str | None = None
    staffing: dict[str, Any] = field(default_factory=dict)
    default_staff: int = 0
    #: call categories the profile's ``[scope]`` leaves out of every objective (lower-case)
    exclude_categories: tuple[str, ...] = ()

    @property
    def family(self) -> str:
        return family(self.mdef)

    @property
    def needs_unit_type(self) -> bool:
        return (
            any(g.value == "unit_type" for g in self.groups if g.kind == "dim")
            or "unit_type" in self.filters
            or any(e.unit_type for e in self.entries)
        )


def _incident_base(q: MetricQuery) -> str:
    iv = q.mdef
    join = _FA_JOIN if q.needs_unit_type else ""
    dims = _INCIDENT_DIMS.format(unit_type="fa.unit_type" if join else "null::varchar")
    return f"""
  select
    {dims},
    i.{iv.column} as value_s, {interval_reason_sql(iv, "i")} as excluded_reason
  from incidents i{join}"""


def _unit_base(q: MetricQuery) -> str:
    iv = q.mdef
    return f"""
  select
    r.agency, r.incident_id, r.call_category, r.call_type, r.priority, r.station_id as station,
    r.unit_id as unit, r.unit_type, r.call_received_at, r.call_received_local_at, r.timezone,
    r.{iv.column} as value_s, {interval_reason_sql(iv, "r")} as excluded_reason
  from responses r"""


def _first_due_base(q: MetricQuery) -> str:
    travel = q.mdef.start == "enroute_at"
    value = (
        "fd.travel_s"
        if travel
        else "(epoch_us(fd.on_scene_at) - epoch_us(i.call_received_at)) / 1e6"
    )
    start = (
        ("fd.enroute_at", "enroute_at") if travel else ("i.call_received_at", "call_received_at")
    )
    missing = missing_reason_sql(value, [start, ("fd.on_scene_at", "on_scene_at")])
    return f"""
  with first_due_area as (
    select agency, incident_id, zone_id as first_due_station
    from incident_zones
    where layer = $station_layer
  ), first_due_unit as (
    select
      r.agency, r.incident_id, r.unit_id, r.unit_type, r.enroute_at, r.on_scene_at, r.travel_s,
      row_number() over (partition by r.agency, r.incident_id
                         order by r.dispatched_at asc nulls last, r.unit_id) as unit_order
    from responses r
    join first_due_area a on a.agency = r.agency and a.incident_id = r.incident_id and r.station_id = a.first_due_station
  )
  select
    i.agency, i.incident_id, i.call_category, i.call_type, i.priority,
    a.first_due_station as station,
    fd.unit_id as unit, fd.unit_type, i.call_received_at, i.call_received_local_at, i.timezone,
    {value} as value_s,
    case when {value} is not null then null
      when a.first_due_station is null then 'outside every first-due station area'
      when fd.unit_id is null then 'no unit of the first-due station'
      else {missing} end as excluded_reason
  from incidents i
  left join first_due_area a on a.agency = i.agency and a.incident_id = i.incident_id
  left join first_due_unit fd on fd.agency = i.agency and fd.incident_id = i.incident_id and fd.unit_order = 1"""


def _erf_base(q: MetricQuery) -> str:
    join = _FA_JOIN if q.needs_unit_type else ""
    dims = _INCIDENT_DIMS.format(unit_type="fa.unit_type" if join else "null::varchar")
    return f"""
  with unit_staff as (
    select
      r.agency, r.incident_id, r.unit_id, r.on_scene_at,
      coalesce(s.staff, $default_staff) as staff
    from responses r
    left join (select unnest($staff_types) as unit_type, unnest($staff_counts) as staff) s
      on s.unit_type = upper(r.unit_type)
    where r.on_scene_at is not null
  ), cumulative as (
    select
      agency, incident_id, on_scene_at,
      sum(staff) over (partition by agency, incident_id order by on_scene_at, unit_id
                       rows between unbounded preceding and current row) as cum_staff
    from unit_staff
  ), arrivals as (
    select agency, incident_id,
      list({{'at': on_scene_at, 'cum_staff': cum_staff}} order by on_scene_at, cum_staff)
        as arrivals
    from cumulative
    group by agency, incident_id
  )
  select
    {dims},
    {_FIRST[q.mdef.start]} as start_at, a.arrivals
  from incidents i
  left join arrivals a on a.agency = i.agency and a.incident_id = i.incident_id{join}"""


_BASES = {"incident": _incident_base, "unit": _unit_base, "first_due": _first_due_base}
_BASES["erf"] = _erf_base


def _entry_rows(entries: list[Entry]) -> str:
    rows = []
    for i, e in enumerate(entries):
        cats = list(e.call_category) if e.call_category else None
        types = list(e.unit_type) if e.unit_type else None
        rule = dict(e.call_types or ())
        default = rule.pop("default", None)
        keys = [f"{a.lower()}|{t.lower()}" for a, ts in rule.items() for t in ts]
        named = [a.lower() for a in rule]
        dflt = [t.lower() for t in default] if default is not None else []
        has_types = e.call_types is not None
        rows.append(
            f"({i}, {sql_literal(e.standard)}::varchar, {sql_literal(e.target_s)}::double, "
            f"{sql_literal(e.pct)}::double, {sql_literal(cats)}::varchar[], "
            f"{sql_literal(types)}::varchar[], {sql_literal(e.staff)}::integer, "
            f"{sql_literal(e.density_class)}::varchar, {sql_literal(e.target_note)}::varchar, "
            f"{sql_literal(e.baseline_s)}::double, {sql_literal(has_types)}::boolean, "
            f"{sql_literal(keys)}::varchar[], {sql_literal(named)}::varchar[], "
            f"{sql_literal(dflt)}::varchar[])"
        )
    return ",\n    ".join(rows)


def _dims_sql(q: MetricQuery) -> str:
    """The ``dims`` CTE: one base row with its group columns and filters applied."""
    p = q.params
    joins, cols = [], []
    for i, g in enumerate(q.groups):
        if g.kind == "layer":
            p[f"layer_{i}"] = g.value
            joins.append(
                f"left join incident_zones z{i} on z{i}.agency = b.agency "
                f"and z{i}.incident_id = b.incident_id and z{i}.layer = $layer_{i}"
            )
            cols.append(f"z{i}.zone_id as {g.column}")
        else:
            cols.append(f"{g.expr} as {g.column}")
    if any(e.density_class for e in q.entries):
        p["density_layer"] = q.density_layer
        joins.append(
            "left join incident_zones zd on zd.agency = b.agency "
            "and zd.incident_id = b.incident_id and zd.layer = $density_layer"
        )
        joins.append("left join zones zz on zz.layer = $density_layer and zz.zone_id = zd.zone_id")
        cols.append("zz.density_class as density_class")
    if q.family == "erf":
        cols += ["b.start_at", "b.arrivals"]
    else:
        cols += ["b.value_s", "b.excluded_reason"]
    where = filter_sql(q.filters, p)
    nl = "\n  "
    return (
        "select\n    b.agency, b.incident_id, b.call_category as _call_category, "
        "upper(b.unit_type) as _unit_type, lower(b.call_type) as _call_type,\n    "
        + ",\n    ".join(cols)
        + "\n  from base b"
        + "".join(nl + j for j in joins)
        + (nl + "where " + " and ".join(where) if where else "")
    )


def _targeted_sql(q: MetricQuery) -> str:
    """The ``targeted`` CTE: each base row once per entry it falls under, with the entry's
    target and percentile: the input of ``da_fractiles``."""
    gcols = "".join(f"d.{g.column}, " for g in q.groups)
    if q.family == "erf":
        value = (
            "case when d.arrivals is null or d.start_at is null or e.staff is null then null "
            "else coalesce((epoch_us(list_filter(d.arrivals, a -> a.cum_staff >= e.staff)[1].at)"
            " - epoch_us(d.start_at)) / 1e6, 'inf'::double) end"
        )
        reason = (
            "case when d.arrivals is null then 'no unit on scene' "
            f"when d.start_at is null then 'missing {q.mdef.start}' "
            "when e.staff is null then 'no effective response force' end"
        )
    else:
        value, reason = "d.value_s", "d.excluded_reason"
    density = (
        "\n   and (e.density_class is null or e.density_class = d.density_class)"
        if any(e.density_class for e in q.entries)
        else ""
    )
    rows = "dims"
    if q.exclude_categories:  # the profile's [scope]: these categories are no objective's
        q.params["scope_excluded"] = list(q.exclude_categories)
        rows = (
            "(select * from dims where _call_category is null\n"
            "        or not list_contains($scope_excluded, lower(_call_category)))"
        )
    return f"""select
    {gcols}e.entry_id, {value} as value_s, e.target_s, e.pct, {reason} as excluded_reason
  from {rows} d
  join entries e
    on (e.call_categories is null or list_contains(e.call_categories, d._call_category))
   and (e.unit_types is null or list_contains(e.unit_types, d._unit_type))
   and (not e.has_types
        or list_contains(e.type_keys, lower(d.agency) || '|' || d._call_type)
        or (not list_contains(e.type_agencies, lower(coalesce(d.agency, '')))
            and list_contains(e.type_default, d._call_type))){density}"""


def _bind_family(q: MetricQuery) -> None:
    if q.family == "first_due":
        q.params["station_layer"] = q.station_layer
    if q.family == "erf":
        items = sorted((str(k).upper(), int(v)) for k, v in q.staffing.items() if k != "default")
        q.params["staff_types"] = [k for k, _ in items]
        q.params["staff_counts"] = [v for _, v in items]
        q.params["default_staff"] = q.default_staff


def out_of_scope_sql(q: MetricQuery) -> str:
    """Calls (distinct incidents, after the filters) of each call category the profile's
    ``[scope]`` leaves out: ``call_category, calls``. Call after :func:`build_sql` (it binds
    the parameters); run it with ``q.params``."""
    return f"""with base as ({_BASES[q.family](q)}
), dims as (
  {_dims_sql(q)}
)
{_SCOPE_SELECT}
order by 1
"""


#: The calls of each category the ``[scope]`` leaves out, over the ``dims`` CTE.
_SCOPE_SELECT = """select lower(_call_category) as call_category,
  count(distinct (agency, incident_id)) as calls
from dims
where list_contains($scope_excluded, lower(_call_category))
group by 1"""

#: The column :func:`build_sql` adds when the profile leaves categories out: the same counts
#: as :func:`out_of_scope_sql`, as a list of (call_category, calls) on every row.
SCOPE_COLUMN = "_out_of_scope"
_SCOPE_LIST = (
    "(select list({'call_category': call_category, 'calls': calls}) "
    f"from ({_SCOPE_SELECT})) as {SCOPE_COLUMN}"
)


def build_sql(q: MetricQuery) -> str:
    """The whole statement; its parameters are added to ``q.params`` (which must hold
    ``min_n`` and ``conf``)."""
    _bind_family(q)
    gcols = [g.column for g in q.groups]
    entries = q.entries
    fr = fractile_sql(
        "targeted",
        [*gcols, "entry_id"],
        q.percentiles,
        conf="$conf",
        min_n="$min_n",
        # with no grouping there is one row per entry, even without data
        placeholders=None if gcols else "(select entry_id, target_s, pct from entries)",
    )
    multi = len({e.standard for e in entries}) > 1
    first = (["e.standard"] if multi else []) + (
        ["e.density_class"] if any(e.density_class for e in entries) else []
    )
    has_note = any(e.target_note for e in entries)
    out = [
        *(f"f.{c}" for c in gcols),
        *first,
        "f.n",
        "f.n_missing",
        *(["f.n_unmet"] if q.family == "erf" else []),
        "f.mean_s",
        *(f"f.{pcol(p)}" for p in q.percentiles),
        "f.percentile, f.p_value_s, f.ci_low_s, f.ci_high_s, e.target_s",
        *(["e.baseline_s"] if any(e.baseline_s is not None for e in entries) else []),
        "f.compliance, f.met, f.flag, f.excluded",
        *(["e.target_note"] if has_note else []),
        # one statement, not a second query over the same rows (each query binds the whole
        # view stack again: 6 of a report's 0.85 s on a small store were these counts)
        *([_SCOPE_LIST] if q.exclude_categories else []),
    ]
    order = ", ".join([*(f"f.{c} nulls last" for c in gcols), "f.entry_id"])
    return f"""with base as ({_BASES[q.family](q)}
), dims as (
  {_dims_sql(q)}
), entries as (
  select * from (values
    {_entry_rows(entries)}
  ) v(entry_id, standard, target_s, pct, call_categories, unit_types, staff, density_class,
      target_note, baseline_s, has_types, type_keys, type_agencies, type_default)
), targeted as (
  {_targeted_sql(q)}
), fractiles as (
{fr}
)
select
  {", ".join(out)}
from fractiles f
join entries e on e.entry_id = f.entry_id
order by {order}
"""
