-- name: _impact_period
-- description: Not a listed query (its name starts with "_"): the figures of one period of
--   `dispatch impact`. Calls whose LOCAL date of receipt is in $start..$end (both inclusive),
--   optionally in zone $zone of layer $layer and of call category $call_category: n_calls (all),
--   n (with the interval), nearest-rank p50 / p90 (da_nearest_rank), the 95% order-statistic CI
--   of p90 (da_os_ci_ranks), compliance with $target_s and the flag (da_flag, min_n 30).
-- params: metric (interval), start (local date), end (local date), layer (optional),
--   zone (optional), call_category (optional), target_s (optional),
--   agency (optional: only this agency's calls; NULL = every agency)
-- returns: n_calls, n, n_missing, p50_s, p90_s, ci_low_s, ci_high_s, compliance, flag
with interval_rows as (
  select
    true as grp,
    v.value_s,
    v.excluded_reason,
    $target_s::double as target_s,
    90.0 as pct
  from incident_intervals v
  left join incident_zones z
    on z.agency = v.agency and z.incident_id = v.incident_id and z.layer = $layer
  where v.metric = $metric
    and cast(v.call_received_local_at as date) between cast($start as date) and cast($end as date)
    and ($agency is null or v.agency = $agency)
    and ($layer is null or z.zone_id = $zone)
    and ($call_category is null or v.call_category = $call_category)
  union all
  -- a placeholder row (value and reason NULL): a period without calls still gives its row
  select true, null, null, $target_s::double, 90.0
)
-- the package's one fractile implementation (sql/_macros.sql)
select
  n + n_missing as n_calls, n, n_missing, fractiles_s[1] as p50_s, fractiles_s[2] as p90_s,
  ci_low_s, ci_high_s, compliance, flag
from da_fractiles(interval_rows, percentiles := [50, 90], min_n := 30)
