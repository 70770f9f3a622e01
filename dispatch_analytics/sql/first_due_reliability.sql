-- name: first_due_reliability
-- description: First-due reliability per station area: of the incidents in each area of
--   $station_layer that had a unit on scene, the share whose first-arriving unit came from the
--   area's own station. Assumptions: (1) a zone_id of $station_layer is the station_id of the
--   station first due in that area; (2) responses.station_id is the unit's HOME station, as in
--   the sample city export. Sources whose station_id is the incident's station area (the SFFD
--   "Station Area" column) make every incident look first-due: do not use them here.
--   Also: how often the first-due station sent any unit at all. Optional window on the local
--   date of the call: $from_date (inclusive) to $to_date (EXCLUSIVE).
-- params: station_layer (zone layer of first-due station areas),
--   period (optional: day|week|month|quarter|year; local period start),
--   from_date (optional: local date, inclusive), to_date (optional: local date, exclusive),
--   agency (optional: only this agency's calls; NULL = every agency)
-- returns: zone_id, period_start, n_incidents, n_arrived, n_first_due_arrived_first,
--   reliability, n_first_due_assigned, first_due_assigned_share
with incident_area as (
  select
    i.agency,
    i.incident_id,
    i.first_arriving_unit,
    z.zone_id,
    case when $period is not null then
      cast(date_trunc($period, i.call_received_local_at) as date)
    end as period_start
  from incidents i
  left join incident_zones z on z.agency = i.agency and z.incident_id = i.incident_id and z.layer = $station_layer
  where ($from_date is null or cast(i.call_received_local_at as date) >= cast($from_date as date))
    and ($to_date is null or cast(i.call_received_local_at as date) < cast($to_date as date))
    and ($agency is null or i.agency = $agency)
), first_arriving as (
  select a.agency, a.incident_id, r.station_id as first_arriving_station
  from incident_area a
  join responses r on r.agency = a.agency and r.incident_id = a.incident_id and r.unit_id = a.first_arriving_unit
), first_due_assigned as (
  select distinct a.agency, a.incident_id
  from incident_area a
  join responses r on r.agency = a.agency and r.incident_id = a.incident_id and r.station_id = a.zone_id
), per_incident as (
  select
    a.zone_id,
    a.period_start,
    a.incident_id,
    a.first_arriving_unit is not null as arrived,
    f.first_arriving_station = a.zone_id as first_due_first,
    d.incident_id is not null as first_due_assigned
  from incident_area a
  left join first_arriving f on f.agency = a.agency and f.incident_id = a.incident_id
  left join first_due_assigned d on d.agency = a.agency and d.incident_id = a.incident_id
)
select
  zone_id,
  period_start,
  count(*) as n_incidents,
  count(*) filter (where arrived) as n_arrived,
  count(*) filter (where arrived and first_due_first) as n_first_due_arrived_first,
  case when count(*) filter (where arrived) > 0 then
    (count(*) filter (where arrived and first_due_first)) / (count(*) filter (where arrived))
  end as reliability,
  count(*) filter (where first_due_assigned) as n_first_due_assigned,
  (count(*) filter (where first_due_assigned)) / count(*) as first_due_assigned_share
from per_incident
group by zone_id, period_start
order by zone_id nulls last, period_start nulls last
