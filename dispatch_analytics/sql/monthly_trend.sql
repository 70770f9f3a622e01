-- name: monthly_trend
-- description: Month-by-month nearest-rank fractile (and compliance when $target_s is given)
--   of one incident interval, per zone of $layer; months between the first and the last one
--   with calls are all listed (n = 0 and flag no_data when a month has none), and change_s is
--   the change of the $percentile-th percentile from the zone's previous month.
-- params: metric (incident interval: a stored incident-level interval of the registry),
--   layer (optional: zone layer name; NULL = whole area), percentile (default 90),
--   target_s (optional: target in seconds; NULL = no compliance),
--   call_category (optional: only this call_category, e.g. ems), min_n (default 30),
--   agency (optional: only this agency's calls; NULL = every agency)
-- returns: month_start, zone_id, n, mean_s, p50_s, percentile, p_value_s, ci_low_s, ci_high_s,
--   target_s, compliance, change_s, flag, n_missing, excluded
with interval_rows as (
  select
    cast(date_trunc('month', v.call_received_local_at) as date) as month_start,
    z.zone_id,
    v.value_s,
    v.excluded_reason
  from incident_intervals v
  left join incident_zones z on z.agency = v.agency and z.incident_id = v.incident_id and z.layer = $layer
  where v.metric = $metric
    and ($agency is null or v.agency = $agency)
    and ($call_category is null or v.call_category = $call_category)
    and v.call_received_at is not null
), months as (
  select cast(unnest(generate_series(min(month_start), max(month_start), interval 1 month)) as date)
    as month_start
  from interval_rows
), zones_seen as (
  select distinct zone_id from interval_rows
), grid as (
  -- one placeholder row per month and zone (value and reason NULL): every month is listed
  select
    {'month_start': m.month_start, 'zone_id': z.zone_id} as grp,
    null::double as value_s,
    null::varchar as excluded_reason
  from months m
  cross join zones_seen z
  union all
  select {'month_start': month_start, 'zone_id': zone_id}, value_s, excluded_reason
  from interval_rows
), grid_rows as (
  select *, $target_s::double as target_s, $percentile::double as pct from grid
)
select
  grp.month_start as month_start, grp.zone_id as zone_id, n, mean_s, fractiles_s[1] as p50_s,
  percentile, p_value_s, ci_low_s, ci_high_s, target_s, compliance,
  p_value_s - lag(p_value_s) over (partition by grp.zone_id order by grp.month_start)
    as change_s,
  flag, n_missing, excluded
from da_fractiles(grid_rows, percentiles := [50], min_n := $min_n)
order by zone_id nulls last, month_start
