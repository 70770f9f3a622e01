-- name: unit_turnout
-- description: Turnout (this unit's enroute_at - dispatched_at) per unit, split by turnout class
--   (NFPA 1710: ems calls 60 s, fire and special operations, i.e. every other call_category,
--   80 s): n, mean, nearest-rank p50 / p90 / $percentile-th with its 95% distribution-free CI,
--   and compliance = share of the unit's responses with turnout <= the class target. One row per
--   unit and class; unit_type and station_id are the most frequent values on the unit's rows
--   (ties: the first in sort order, so the result never depends on the order rows are stored).
--   Responses without both timestamps are n_missing (excluded says which was missing).
-- params: ems_target_s (default 60), fire_target_s (default 80), percentile (default 90),
--   min_n (default 30),
--   agency (optional: only this agency's calls; NULL = every agency)
-- returns: agency, unit_id, turnout_class, unit_type, station_id, n, mean_s, p50_s, p90_s, percentile,
--   p_value_s, ci_low_s, ci_high_s, target_s, compliance, met, flag, n_missing, excluded
with unit_turnouts as (
  select
    r.agency,
    r.unit_id,
    r.unit_type,
    r.station_id,
    case when r.call_category = 'ems' then 'ems' else 'fire' end as turnout_class,
    r.value_s,
    r.excluded_reason
  from unit_intervals r
  where r.metric = 'turnout'
    and r.unit_id is not null
    and ($agency is null or r.agency = $agency)
), targeted as (
  select
    {'agency': agency, 'unit_id': unit_id, 'turnout_class': turnout_class} as grp,
    value_s,
    excluded_reason,
    case turnout_class when 'ems' then $ems_target_s::double else $fire_target_s::double end
      as target_s,
    $percentile::double as pct
  from unit_turnouts
), unit_info as (
  select agency, unit_id, turnout_class, mode(unit_type order by unit_type) as unit_type,
    mode(station_id order by station_id) as station_id
  from unit_turnouts
  group by agency, unit_id, turnout_class
), fractiles as (
  select * from da_fractiles(targeted, percentiles := [50, 90], min_n := $min_n)
)
select
  f.grp.agency as agency,
  f.grp.unit_id as unit_id,
  f.grp.turnout_class as turnout_class,
  u.unit_type,
  u.station_id,
  f.n,
  f.mean_s,
  f.fractiles_s[1] as p50_s,
  f.fractiles_s[2] as p90_s,
  f.percentile,
  f.p_value_s,
  f.ci_low_s,
  f.ci_high_s,
  f.target_s,
  f.compliance,
  f.met,
  f.flag,
  f.n_missing,
  f.excluded
from fractiles f
join unit_info u
  on u.agency = f.grp.agency and u.unit_id = f.grp.unit_id
 and u.turnout_class = f.grp.turnout_class
order by agency, unit_id, turnout_class
