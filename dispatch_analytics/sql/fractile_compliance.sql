-- name: fractile_compliance
-- description: Nearest-rank fractiles (p50, p90, p95 and the $percentile-th) of one incident
--   interval per zone of $layer (and per local period), the 95% distribution-free confidence
--   interval of the $percentile-th percentile, and compliance = share of incidents with the
--   interval <= $target_s. "p_value_s <= target_s" and "compliance >= percentile / 100" always
--   agree. Incidents without the interval's two timestamps are not counted in n: they are
--   n_missing.
-- params: metric (interval: alarm_answering|call_processing|turnout|travel|total_response),
--   layer (optional: zone layer name; NULL = the whole area as one row with zone_id NULL),
--   period (optional: day|week|month|quarter|year; local period start),
--   percentile (default 90), target_s (target in seconds),
--   call_category (optional: only this call_category, e.g. ems),
--   min_n (default 30; smaller samples are flagged small_sample)
-- returns: zone_id, period_start, n, n_missing, mean_s, p50_s, p90_s, p95_s, percentile, p_value_s,
--   ci_low_s, ci_high_s, target_s, compliance, met, flag
with incident_intervals as (
  select
    i.incident_id,
    case $metric
      when 'alarm_answering' then i.alarm_answering_s
      when 'call_processing' then i.call_processing_s
      when 'turnout' then i.turnout_s        -- first-arriving unit
      when 'travel' then i.travel_s          -- first-arriving unit
      when 'total_response' then i.total_response_s
    end as value_s,
    case when $period is not null then
      cast(date_trunc($period, i.call_received_local_at) as date)
    end as period_start,
    z.zone_id
  from incidents i
  left join incident_zones z on z.incident_id = i.incident_id and z.layer = $layer
  where $call_category is null or i.call_category = $call_category
), grouped as (
  select
    zone_id,
    period_start,
    count(value_s) as n,
    count(*) - count(value_s) as n_missing,
    avg(value_s) as mean_s,
    count(value_s) filter (where value_s <= $target_s::double) as n_on_target,
    list_sort(list(value_s) filter (where value_s is not null)) as sorted_values
  from incident_intervals
  group by zone_id, period_start
), ci_ranks as (
  select *
  from da_os_ci_ranks((select list({'n': n, 'pct': $percentile::double}) from grouped))
), fractiles as (
  select
    g.zone_id,
    g.period_start,
    g.n,
    g.n_missing,
    g.mean_s,
    da_nearest_rank(g.sorted_values, 50) as p50_s,
    da_nearest_rank(g.sorted_values, 90) as p90_s,
    da_nearest_rank(g.sorted_values, 95) as p95_s,
    $percentile::double as percentile,
    da_nearest_rank(g.sorted_values, $percentile::double) as p_value_s,
    g.sorted_values[c.ci_low_rank] as ci_low_s,
    g.sorted_values[c.ci_high_rank] as ci_high_s,
    $target_s::double as target_s,
    case when g.n > 0 and $target_s is not null then g.n_on_target / g.n end as compliance
  from grouped g
  left join ci_ranks c on c.n = g.n and c.pct = $percentile::double
)
select
  *,
  p_value_s <= target_s as met,
  da_flag(n, $min_n, ci_low_s, ci_high_s) as flag
from fractiles
order by zone_id nulls last, period_start nulls last
