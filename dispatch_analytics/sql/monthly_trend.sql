-- name: monthly_trend
-- description: Month-by-month nearest-rank fractile (and compliance when $target_s is given)
--   of one incident interval, per zone of $layer; months between the first and the last one
--   with calls are all listed (n = 0 and flag no_data when a month has none), and change_s is
--   the change of the $percentile-th percentile from the zone's previous month.
-- params: metric (interval: alarm_answering|call_processing|turnout|travel|total_response),
--   layer (optional: zone layer name; NULL = whole area), percentile (default 90),
--   target_s (optional: target in seconds; NULL = no compliance),
--   call_category (optional: only this call_category, e.g. ems), min_n (default 30)
-- returns: month_start, zone_id, n, mean_s, p50_s, percentile, p_value_s, ci_low_s, ci_high_s,
--   target_s, compliance, change_s, flag
with incident_intervals as (
  select
    i.incident_id,
    case $metric
      when 'alarm_answering' then i.alarm_answering_s
      when 'call_processing' then i.call_processing_s
      when 'turnout' then i.turnout_s
      when 'travel' then i.travel_s
      when 'total_response' then i.total_response_s
    end as value_s,
    cast(date_trunc('month', i.call_received_local_at) as date) as month_start,
    z.zone_id
  from incidents i
  left join incident_zones z on z.incident_id = i.incident_id and z.layer = $layer
  where ($call_category is null or i.call_category = $call_category)
    and i.call_received_at is not null
), months as (
  select cast(unnest(generate_series(min(month_start), max(month_start), interval 1 month)) as date)
    as month_start
  from incident_intervals
), zones_seen as (
  select distinct zone_id from incident_intervals
), grouped as (
  select
    zone_id,
    month_start,
    count(value_s) as n,
    avg(value_s) as mean_s,
    count(value_s) filter (where value_s <= $target_s::double) as n_on_target,
    list_sort(list(value_s) filter (where value_s is not null)) as sorted_values
  from incident_intervals
  group by zone_id, month_start
), grid as (
  select m.month_start, z.zone_id, coalesce(g.n, 0) as n, g.mean_s, g.n_on_target,
    coalesce(g.sorted_values, []::double[]) as sorted_values
  from months m
  cross join zones_seen z
  left join grouped g on g.month_start = m.month_start and g.zone_id is not distinct from z.zone_id
), ci_ranks as (
  select *
  from da_os_ci_ranks((select list({'n': n, 'pct': $percentile::double}) from grid))
), fractiles as (
  select
    g.month_start,
    g.zone_id,
    g.n,
    g.mean_s,
    da_nearest_rank(g.sorted_values, 50) as p50_s,
    $percentile::double as percentile,
    da_nearest_rank(g.sorted_values, $percentile::double) as p_value_s,
    g.sorted_values[c.ci_low_rank] as ci_low_s,
    g.sorted_values[c.ci_high_rank] as ci_high_s,
    $target_s::double as target_s,
    case when g.n > 0 and $target_s is not null then g.n_on_target / g.n end as compliance
  from grid g
  left join ci_ranks c on c.n = g.n and c.pct = $percentile::double
)
select
  *,
  p_value_s - lag(p_value_s) over (partition by zone_id order by month_start) as change_s,
  da_flag(n, $min_n, ci_low_s, ci_high_s) as flag
from fractiles
order by zone_id nulls last, month_start
