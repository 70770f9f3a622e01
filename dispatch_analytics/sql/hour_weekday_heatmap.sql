-- name: hour_weekday_heatmap
-- description: The nearest-rank $percentile-th percentile (and compliance when $target_s is
--   given) of one incident interval for every local hour of day (0-23) and ISO weekday
--   (1 = Monday .. 7 = Sunday) of the call: always 168 rows (n = 0, flag no_data when empty).
--   Local time is the agency zone's wall clock (DST-exact).
-- params: metric (interval: alarm_answering|call_processing|turnout|travel|total_response),
--   percentile (default 90), target_s (optional: target in seconds; NULL = no compliance),
--   call_category (optional: only this call_category, e.g. ems),
--   layer (optional: zone layer name, used with zone_id),
--   zone_id (optional: only incidents in this zone of $layer), min_n (default 30)
-- returns: weekday, weekday_name, hour, n, p50_s, percentile, p_value_s, ci_low_s, ci_high_s,
--   target_s, compliance, flag
with incident_intervals as (
  select
    case $metric
      when 'alarm_answering' then i.alarm_answering_s
      when 'call_processing' then i.call_processing_s
      when 'turnout' then i.turnout_s
      when 'travel' then i.travel_s
      when 'total_response' then i.total_response_s
    end as value_s,
    isodow(i.call_received_local_at) as weekday,
    hour(i.call_received_local_at) as hour
  from incidents i
  left join incident_zones z on z.incident_id = i.incident_id and z.layer = $layer
  where ($call_category is null or i.call_category = $call_category)
    and ($zone_id is null or z.zone_id = $zone_id)
), cells as (
  select w.weekday, h.hour
  from (select unnest(range(1, 8)) as weekday) w
  cross join (select unnest(range(0, 24)) as hour) h
), grouped as (
  select
    weekday,
    hour,
    count(value_s) as n,
    count(value_s) filter (where value_s <= $target_s::double) as n_on_target,
    list_sort(list(value_s) filter (where value_s is not null)) as sorted_values
  from incident_intervals
  group by weekday, hour
), grid as (
  select c.weekday, c.hour, coalesce(g.n, 0) as n, g.n_on_target,
    coalesce(g.sorted_values, []::double[]) as sorted_values
  from cells c
  left join grouped g on g.weekday = c.weekday and g.hour = c.hour
), ci_ranks as (
  select *
  from da_os_ci_ranks((select list({'n': n, 'pct': $percentile::double}) from grid))
), fractiles as (
  select
    g.weekday,
    ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'][g.weekday] as weekday_name,
    g.hour,
    g.n,
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
select *, da_flag(n, $min_n, ci_low_s, ci_high_s) as flag
from fractiles
order by weekday, hour
