-- name: hour_weekday_heatmap
-- description: The nearest-rank $percentile-th percentile (and compliance when $target_s is
--   given) of one incident interval for every local hour of day (0-23) and ISO weekday
--   (1 = Monday .. 7 = Sunday) of the call: always 168 rows (n = 0, flag no_data when empty).
--   Local time is the agency zone's wall clock (DST-exact).
-- params: metric (incident interval: a stored incident-level interval of the registry),
--   percentile (default 90), target_s (optional: target in seconds; NULL = no compliance),
--   call_category (optional: only this call_category, e.g. ems),
--   layer (optional: zone layer name, used with zone_id),
--   zone_id (optional: only incidents in this zone of $layer), min_n (default 30),
--   agency (optional: only this agency's calls; NULL = every agency)
-- returns: weekday, weekday_name, hour, n, p50_s, percentile, p_value_s, ci_low_s, ci_high_s,
--   target_s, compliance, flag, n_missing, excluded
with interval_rows as (
  select
    {
      'weekday': isodow(v.call_received_local_at),
      'hour': hour(v.call_received_local_at)
    } as grp,
    v.value_s,
    v.excluded_reason
  from incident_intervals v
  left join incident_zones z on z.agency = v.agency and z.incident_id = v.incident_id and z.layer = $layer
  where v.metric = $metric
    and ($agency is null or v.agency = $agency)
    and v.call_received_local_at is not null
    and ($call_category is null or v.call_category = $call_category)
    and ($zone_id is null or z.zone_id = $zone_id)
), cells as (
  -- one placeholder row per cell (value and reason NULL): all 168 cells are listed
  select
    {'weekday': w.weekday, 'hour': h.hour} as grp,
    null::double as value_s,
    null::varchar as excluded_reason
  from (select unnest(range(1, 8)) as weekday) w
  cross join (select unnest(range(0, 24)) as hour) h
  union all
  select grp, value_s, excluded_reason from interval_rows
), cell_rows as (
  select *, $target_s::double as target_s, $percentile::double as pct from cells
)
select
  grp.weekday as weekday,
  ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'][grp.weekday] as weekday_name,
  grp.hour as hour,
  n, fractiles_s[1] as p50_s, percentile, p_value_s, ci_low_s, ci_high_s, target_s, compliance,
  flag, n_missing, excluded
from da_fractiles(cell_rows, percentiles := [50], min_n := $min_n)
order by weekday, hour
