-- name: call_concurrency
-- description: Call concurrency. For each incident, the number of OTHER incidents active when it
--   was received (another incident is active from its call_received_at, inclusive, until its
--   last_cleared_at, exclusive; incidents without last_cleared_at are never counted as active);
--   summarised by local hour of receipt: mean, nearest-rank p90 and max of that count, and the
--   share of incidents received while at least one other was active. A store holding several
--   agencies should be narrowed with $source (a LIKE pattern on responses.source).
-- params: source (optional: LIKE pattern on responses.source, e.g. %sffd%)
-- returns: hour, n_incidents, mean_concurrent, p90_concurrent, max_concurrent,
--   share_with_concurrent
with scoped as (
  select i.incident_id, i.call_received_at, i.last_cleared_at,
    hour(i.call_received_local_at) as hour
  from incidents i
  where $source is null
     or i.incident_id in (select incident_id from responses where source like $source)
), incident_concurrency as (
  select
    s.incident_id,
    s.hour,
    count(o.incident_id) as concurrent
  from scoped s
  left join scoped o
    on o.call_received_at <= s.call_received_at
   and o.last_cleared_at > s.call_received_at
   and o.incident_id <> s.incident_id
  group by s.incident_id, s.hour
)
select
  hour,
  count(*) as n_incidents,
  avg(concurrent) as mean_concurrent,
  da_nearest_rank(list_sort(list(concurrent)), 90) as p90_concurrent,
  max(concurrent) as max_concurrent,
  (count(*) filter (where concurrent > 0)) / count(*) as share_with_concurrent
from incident_concurrency
group by hour
order by hour
