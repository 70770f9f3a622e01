-- name: call_concurrency
-- description: Call concurrency. For each incident, the number of OTHER incidents in progress
--   when it was received: another incident is in progress from its call_received_at
--   (inclusive) until its last_cleared_at (exclusive), so two calls received in the same second
--   count each other. Incidents without last_cleared_at are never counted as in progress
--   (n_without_cleared says how many of a group's incidents lack it). concurrent counts in
--   progress incidents anywhere; concurrent_in_zone only those in the same zone of $layer.
--   Summarised per group ($by: hour = local hour of receipt; zone = zone of $layer; zone_hour =
--   both): mean, nearest-rank p50 / p90 and max of the count, the share received while at
--   least one other was in progress, and the distribution (share with 0, 1, 2, 3 or more).
--   Optional window on the local date of receipt: $from_date (inclusive) to $to_date
--   (EXCLUSIVE); incidents received before it still count as in progress. A store holding
--   several agencies should be narrowed with $source (a LIKE pattern on responses.source).
-- params: source (optional: LIKE pattern on responses.source, e.g. %sffd%),
--   layer (optional: zone layer; needed for by zone and zone_hour),
--   by (default hour; hour|zone|zone_hour),
--   from_date (optional: local date, inclusive), to_date (optional: local date, exclusive),
--   agency (optional: only this agency's calls; NULL = every agency)
-- returns: zone_id, hour, n_incidents, n_without_cleared, mean_concurrent, p50_concurrent,
--   p90_concurrent, max_concurrent, share_with_concurrent, share_0, share_1, share_2,
--   share_3_plus, mean_concurrent_in_zone, p90_concurrent_in_zone, share_with_concurrent_in_zone
with scoped as (
  select
    i.agency, i.incident_id, i.call_received_at, i.last_cleared_at,
    hour(i.call_received_local_at) as hour,
    cast(i.call_received_local_at as date) as local_date,
    z.zone_id
  from incidents i
  left join incident_zones z on z.agency = i.agency and z.incident_id = i.incident_id and z.layer = $layer
  where ($source is null
     or i.incident_id in (select incident_id from responses where source like $source))
    and ($agency is null or i.agency = $agency)
), received as (
  select *
  from scoped
  where ($from_date is null or local_date >= cast($from_date as date))
    and ($to_date is null or local_date < cast($to_date as date))
), incident_concurrency as (
  select
    s.agency,
    s.incident_id,
    any_value(s.hour) as hour,
    any_value(s.zone_id) as zone_id,
    any_value(s.last_cleared_at) is null as without_cleared,
    count(o.incident_id) as concurrent,
    count(o.incident_id) filter (where o.zone_id = s.zone_id) as concurrent_in_zone
  from received s
  left join scoped o
    on o.call_received_at <= s.call_received_at
   and o.last_cleared_at > s.call_received_at
   and o.agency = s.agency  -- another call of the same agency
   and o.incident_id <> s.incident_id
  group by s.agency, s.incident_id
), grouped as (
  select
    case when $by in ('zone', 'zone_hour') then zone_id end as zone_id,
    case when $by in ('hour', 'zone_hour') then hour end as hour,
    concurrent,
    concurrent_in_zone,
    without_cleared
  from incident_concurrency
)
select
  zone_id,
  hour,
  count(*) as n_incidents,
  count(*) filter (where without_cleared) as n_without_cleared,
  avg(concurrent) as mean_concurrent,
  da_nearest_rank(list_sort(list(concurrent)), 50) as p50_concurrent,
  da_nearest_rank(list_sort(list(concurrent)), 90) as p90_concurrent,
  max(concurrent) as max_concurrent,
  (count(*) filter (where concurrent > 0)) / count(*) as share_with_concurrent,
  (count(*) filter (where concurrent = 0)) / count(*) as share_0,
  (count(*) filter (where concurrent = 1)) / count(*) as share_1,
  (count(*) filter (where concurrent = 2)) / count(*) as share_2,
  (count(*) filter (where concurrent >= 3)) / count(*) as share_3_plus,
  case when $layer is not null then avg(concurrent_in_zone) end as mean_concurrent_in_zone,
  case when $layer is not null then
    da_nearest_rank(list_sort(list(concurrent_in_zone)), 90)
  end as p90_concurrent_in_zone,
  case when $layer is not null then
    (count(*) filter (where concurrent_in_zone > 0)) / count(*)
  end as share_with_concurrent_in_zone
from grouped
group by zone_id, hour
order by zone_id nulls last, hour nulls last
