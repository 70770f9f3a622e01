-- name: data_quality
-- description: What the metrics leave out and why, as one long table (section, source, layer,
--   item, n, total, share = n / total):
--   ingest: per source, rows_read / rows_accepted / rows_rejected (from ingest_log) and
--     superseded_records (accepted rows replaced by a newer record of the same incident/unit);
--   rejects: per source and reject reason (total = rows read from that source);
--   flagged_times: current unit records per time_flags value (dst_resolved, dst_ambiguous);
--   missing_interval: per source and incident interval, incidents lacking one of the interval's
--     two timestamps (so not counted in that metric; total = incidents of the source);
--   outside_zone: per zone layer, incidents outside every zone (item outside) or not assigned a
--     zone at all (item not_assigned; total = all incidents).
-- params: agency (optional: only this agency's calls, rejects and flags; the ingest section is
--   per source file whatever the agency)
-- returns: section, source, layer, item, n, total, share
with ingest_totals as (
  select source, sum(rows_read) as rows_read, sum(rows_accepted) as rows_accepted,
    sum(rows_rejected) as rows_rejected
  from ingest_log
  group by source
), ingest_counts as (
  select 'ingest' as section, u.source, null::varchar as layer, u.item, u.n, t.rows_read as total
  from (
    unpivot ingest_totals on rows_read, rows_accepted, rows_rejected into name item value n
  ) u
  join ingest_totals t using (source)
), superseded as (
  select 'ingest' as section, a.source, null::varchar as layer, 'superseded_records' as item,
    a.n - coalesce(c.n, 0) as n, t.rows_read as total
  from (select source, count(*) as n from responses_all group by source) a
  left join (select source, count(*) as n from responses group by source) c using (source)
  left join ingest_totals t using (source)
), reject_counts as (
  select 'rejects' as section, r.source, null::varchar as layer, r.reason as item,
    count(*) as n, any_value(t.rows_read) as total
  from rejects r
  left join ingest_totals t using (source)
  where $agency is null or r.agency = $agency
  group by r.source, r.reason
), flagged as (
  select 'flagged_times' as section, source, null::varchar as layer, flag as item,
    count(*) as n, any_value(rows_in_source) as total
  from (
    select source, unnest(string_split(time_flags, ';')) as flag,
      count(*) over (partition by source) as rows_in_source
    from responses
    where time_flags is not null and time_flags <> ''
      and ($agency is null or agency = $agency)
  )
  group by source, flag
), incident_source as (
  select agency, incident_id, min(source) as source
  from responses
  group by agency, incident_id
), missing_interval as (
  select 'missing_interval' as section, s.source, null::varchar as layer, v.metric as item,
    count(*) filter (where v.value_s is null) as n, count(*) as total
  from incident_intervals v
  left join incident_source s using (agency, incident_id)
  where $agency is null or v.agency = $agency
  group by s.source, v.metric
), layers as (
  select distinct layer from incident_zones
), outside_zone as (
  select 'outside_zone' as section, null::varchar as source, l.layer, c.item,
    count(*) filter (where c.item = 'outside' and z.incident_id is not null and z.zone_id is null
                     or c.item = 'not_assigned' and z.incident_id is null) as n,
    count(*) as total
  from layers l
  cross join (select * from incidents where $agency is null or agency = $agency) i
  left join incident_zones z on z.agency = i.agency and z.incident_id = i.incident_id and z.layer = l.layer
  cross join (values ('outside'), ('not_assigned')) c(item)
  group by l.layer, c.item
), all_rows as (
  select * from ingest_counts
  union all by name select * from superseded
  union all by name select * from reject_counts
  union all by name select * from flagged
  union all by name select * from missing_interval
  union all by name select * from outside_zone
)
select
  section, source, layer, item, n::bigint as n, total::bigint as total,
  case when total > 0 then n / total end as share
from all_rows
order by
  list_position(['ingest', 'rejects', 'flagged_times', 'missing_interval', 'outside_zone'],
                section),
  source nulls last, layer nulls last, item
