-- name: fractile_compliance
-- description: Nearest-rank fractiles (p50, p90, p95 and the $percentile-th) of one incident
--   interval per zone of $layer (and per local period), the 95% distribution-free confidence
--   interval of the $percentile-th percentile, and compliance = share of incidents with the
--   interval <= $target_s. "p_value_s <= target_s" and "compliance >= percentile / 100" always
--   agree. Incidents without the interval's two timestamps are not counted in n: they are
--   n_missing.
-- params: metric (incident interval: a stored incident-level interval of the registry, e.g.
--   total_response; see docs/metrics.md),
--   layer (optional: zone layer name; NULL = the whole area as one row with zone_id NULL),
--   period (optional: day|week|month|quarter|year; local period start),
--   percentile (default 90), target_s (target in seconds),
--   call_category (optional: only this call_category, e.g. ems),
--   min_n (default 30; smaller samples are flagged small_sample),
--   agency (optional: only this agency's calls; NULL = every agency)
-- returns: zone_id, period_start, n, n_missing, mean_s, p50_s, p90_s, p95_s, percentile, p_value_s,
--   ci_low_s, ci_high_s, target_s, compliance, met, flag
with interval_rows as (
  select
    {
      'zone_id': z.zone_id,
      'period_start': case when $period is not null then
        cast(date_trunc($period, v.call_received_local_at) as date)
      end
    } as grp,
    v.value_s,
    v.excluded_reason,
    $target_s::double as target_s,
    $percentile::double as pct
  from incident_intervals v
  left join incident_zones z on z.agency = v.agency and z.incident_id = v.incident_id and z.layer = $layer
  where v.metric = $metric
    and ($agency is null or v.agency = $agency)
    and ($call_category is null or v.call_category = $call_category)
)
-- the package's one fractile implementation (queries/_macros.sql)
select
  grp.zone_id as zone_id, grp.period_start as period_start, n, n_missing, mean_s,
  fractiles_s[1] as p50_s, fractiles_s[2] as p90_s, fractiles_s[3] as p95_s,
  percentile, p_value_s, ci_low_s, ci_high_s, target_s, compliance, met, flag
from da_fractiles(interval_rows, percentiles := [50, 90, 95], min_n := $min_n)
order by zone_id nulls last, period_start nulls last
