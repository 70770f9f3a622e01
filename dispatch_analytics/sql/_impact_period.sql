-- name: _impact_period
-- description: Not a listed query (its name starts with "_"): the figures of one period of
--   `dispatch impact`. Calls whose LOCAL date of receipt is in $start..$end (both inclusive),
--   optionally in zone $zone of layer $layer and of call category $call_category: n_calls (all),
--   n (with the interval), nearest-rank p50 / p90 (da_nearest_rank), the 95% order-statistic CI
--   of p90 (da_os_ci_ranks), compliance with $target_s and the flag (da_flag, min_n 30).
-- params: metric (interval), start (local date), end (local date), layer (optional),
--   zone (optional), call_category (optional), target_s (optional)
-- returns: n_calls, n, n_missing, p50_s, p90_s, ci_low_s, ci_high_s, compliance, flag
with scoped as (
  select
    case $metric
      when 'alarm_answering' then i.alarm_answering_s
      when 'call_processing' then i.call_processing_s
      when 'turnout' then i.turnout_s
      when 'travel' then i.travel_s
      when 'total_response' then i.total_response_s
    end as value_s
  from incidents i
  left join incident_zones z on z.incident_id = i.incident_id and z.layer = $layer
  where cast(i.call_received_local_at as date) between cast($start as date) and cast($end as date)
    and ($layer is null or z.zone_id = $zone)
    and ($call_category is null or i.call_category = $call_category)
), grouped as (
  select
    count(*) as n_calls,
    count(value_s) as n,
    list_sort(list(value_s) filter (where value_s is not null)) as xs,
    count(value_s) filter (where value_s <= $target_s) as n_on_target
  from scoped
), ci_ranks as (
  select * from da_os_ci_ranks((select list({'n': n, 'pct': 90.0}) from grouped))
)
select
  g.n_calls,
  g.n,
  g.n_calls - g.n as n_missing,
  da_nearest_rank(g.xs, 50) as p50_s,
  da_nearest_rank(g.xs, 90) as p90_s,
  g.xs[c.ci_low_rank] as ci_low_s,
  g.xs[c.ci_high_rank] as ci_high_s,
  case when g.n > 0 and $target_s is not null then g.n_on_target / g.n end as compliance,
  da_flag(g.n, 30, g.xs[c.ci_low_rank], g.xs[c.ci_high_rank]) as flag
from grouped g
left join ci_ranks c on c.n = g.n and c.pct = 90.0
