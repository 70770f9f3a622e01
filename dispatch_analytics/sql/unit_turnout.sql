-- name: unit_turnout
-- description: Turnout (this unit's enroute_at - dispatched_at) per unit, split by turnout class
--   (NFPA 1710: ems calls 60 s, fire and special operations, i.e. every other call_category,
--   80 s): n, mean, nearest-rank p50 / p90 / $percentile-th with its 95% distribution-free CI,
--   and compliance = share of the unit's responses with turnout <= the class target. One row per
--   unit and class; unit_type and station_id are the most frequent values on the unit's rows.
-- params: ems_target_s (default 60), fire_target_s (default 80), percentile (default 90),
--   min_n (default 30)
-- returns: unit_id, turnout_class, unit_type, station_id, n, mean_s, p50_s, p90_s, percentile,
--   p_value_s, ci_low_s, ci_high_s, target_s, compliance, met, flag
with unit_turnouts as (
  select
    r.unit_id,
    r.unit_type,
    r.station_id,
    case when r.call_category = 'ems' then 'ems' else 'fire' end as turnout_class,
    r.turnout_s as value_s
  from responses r
  where r.unit_id is not null
), targeted as (
  select
    *,
    case turnout_class when 'ems' then $ems_target_s::double else $fire_target_s::double end
      as target_s
  from unit_turnouts
), grouped as (
  select
    unit_id,
    turnout_class,
    mode(unit_type) as unit_type,
    mode(station_id) as station_id,
    any_value(target_s) as target_s,
    count(value_s) as n,
    avg(value_s) as mean_s,
    count(value_s) filter (where value_s <= target_s) as n_on_target,
    list_sort(list(value_s) filter (where value_s is not null)) as sorted_values
  from targeted
  group by unit_id, turnout_class
), ci_ranks as (
  select *
  from da_os_ci_ranks((select list({'n': n, 'pct': $percentile::double}) from grouped))
), fractiles as (
  select
    g.unit_id,
    g.turnout_class,
    g.unit_type,
    g.station_id,
    g.n,
    g.mean_s,
    da_nearest_rank(g.sorted_values, 50) as p50_s,
    da_nearest_rank(g.sorted_values, 90) as p90_s,
    $percentile::double as percentile,
    da_nearest_rank(g.sorted_values, $percentile::double) as p_value_s,
    g.sorted_values[c.ci_low_rank] as ci_low_s,
    g.sorted_values[c.ci_high_rank] as ci_high_s,
    g.target_s,
    case when g.n > 0 then g.n_on_target / g.n end as compliance
  from grouped g
  left join ci_ranks c on c.n = g.n and c.pct = $percentile::double
)
select
  *,
  p_value_s <= target_s as met,
  da_flag(n, $min_n, ci_low_s, ci_high_s) as flag
from fractiles
order by unit_id, turnout_class
