-- name: response_intervals
-- description: One row per incident with every response interval (seconds), the local time of
--   the call (hour 0-23, ISO weekday 1 = Monday, in the agency time zone, DST-exact) and, when
--   $layer is given, the incident's zone in that layer (NULL = outside every zone).
-- params: layer (optional: zone layer name; NULL = no zone columns filled),
--   agency (optional: only this agency's calls; NULL = every agency)
-- returns: agency, incident_id, call_category, call_type, priority, station_id, first_arriving_unit,
--   timezone, call_received_at, local_received_at, local_date, local_hour, local_weekday,
--   alarm_answering_s, call_processing_s, turnout_s, travel_s, total_response_s,
--   units_assigned, units_on_scene, time_flags, layer, zone_id
with incident_local as (
  -- local wall-clock time of the call: UTC instant -> agency zone (exact across DST changes)
  select
    i.*,
    i.call_received_local_at as local_received_at
  from incidents i
), incident_zone as (
  select agency, incident_id, layer, zone_id
  from incident_zones
  where layer = $layer
)
select
  l.agency,
  l.incident_id,
  l.call_category,
  l.call_type,
  l.priority,
  l.station_id,
  l.first_arriving_unit,
  l.timezone,
  l.call_received_at,
  l.local_received_at,
  cast(l.local_received_at as date) as local_date,
  hour(l.local_received_at) as local_hour,
  isodow(l.local_received_at) as local_weekday,
  l.alarm_answering_s,   -- call_answered_at - call_arrived_at
  l.call_processing_s,   -- first_dispatched_at - call_received_at
  l.turnout_s,           -- first-arriving unit: enroute_at - dispatched_at
  l.travel_s,            -- first-arriving unit: on_scene_at - enroute_at
  l.total_response_s,    -- first_on_scene_at - call_received_at
  l.units_assigned,
  l.units_on_scene,
  l.time_flags,
  $layer as layer,
  z.zone_id
from incident_local l
left join incident_zone z on z.agency = l.agency and z.incident_id = l.incident_id
where $agency is null or l.agency = $agency
order by l.call_received_at, l.agency, l.incident_id
