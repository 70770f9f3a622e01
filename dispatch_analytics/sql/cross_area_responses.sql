-- name: cross_area_responses
-- description: Cross-area responses: which station's units answer in which station area, one
--   row per (area of $station_layer, responding station), long format (pivot it for a
--   matrix). n_responses counts unit responses (a unit row on an incident in the area);
--   n_incidents the area's incidents the station sent at least one unit to; n_first_arriving
--   those where the station's unit arrived first; share_of_area = n_responses / all unit
--   responses in the area. Same assumptions as first_due_reliability: a zone_id of
--   $station_layer is the station_id of the station first due there, and responses.station_id
--   is the unit's HOME station (the SFFD "Station Area" column is the incident's area: every
--   response then looks in-area). own_area marks the diagonal. Incidents outside every zone
--   have zone_id NULL. Optional window on the local date of the call: $from_date (inclusive)
--   to $to_date (EXCLUSIVE).
-- params: station_layer (zone layer of first-due station areas),
--   from_date (optional: local date, inclusive), to_date (optional: local date, exclusive),
--   agency (optional: only this agency's calls; NULL = every agency)
-- returns: zone_id, station_id, own_area, n_responses, n_incidents, n_first_arriving,
--   share_of_area
with incident_area as (
  select i.agency, i.incident_id, i.first_arriving_unit, z.zone_id
  from incidents i
  left join incident_zones z on z.agency = i.agency and z.incident_id = i.incident_id and z.layer = $station_layer
  where ($from_date is null or cast(i.call_received_local_at as date) >= cast($from_date as date))
    and ($to_date is null or cast(i.call_received_local_at as date) < cast($to_date as date))
    and ($agency is null or i.agency = $agency)
), unit_responses as (
  select
    a.zone_id,
    coalesce(nullif(r.station_id, ''), '(unknown)') as station_id,
    {'agency': a.agency, 'incident_id': a.incident_id} as incident_key,
    r.unit_id = a.first_arriving_unit as first_arriving
  from incident_area a
  join responses r on r.agency = a.agency and r.incident_id = a.incident_id
), per_pair as (
  select
    zone_id,
    station_id,
    count(*) as n_responses,
    count(distinct incident_key) as n_incidents,
    count(distinct incident_key) filter (where first_arriving) as n_first_arriving
  from unit_responses
  group by zone_id, station_id
)
select
  zone_id,
  station_id,
  station_id = zone_id as own_area,
  n_responses,
  n_incidents,
  n_first_arriving,
  n_responses / sum(n_responses) over (partition by zone_id) as share_of_area
from per_pair
order by zone_id nulls last, n_responses desc, station_id
