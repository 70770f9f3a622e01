-- name: travel_observations
-- description: The observations the travel-time model learns from (`dispatch coverage fit`):
--   one row per incident with the first-arriving unit's travel (en route -> on scene), the
--   unit's home station (the `units` view) and that station's point (the `stations` view),
--   the incident's point and local hour. `reason` says why a row cannot be used (NULL =
--   usable); distances and the outlier rule are applied by the model.
-- params: agency (optional: only this agency's calls; NULL = every agency)
-- returns: agency, incident_id, priority, call_category, local_hour, travel_s, first_arriving_unit, unit_type,
--   home_station_id, station_latitude, station_longitude, latitude, longitude, reason
with first_arrivals as (
  select
    i.agency,
    i.incident_id,
    i.priority,
    i.call_category,
    hour(i.call_received_local_at) as local_hour,
    i.travel_s,
    i.first_arriving_unit,
    i.latitude,
    i.longitude
  from incidents i
  where $agency is null or i.agency = $agency
),

with_home as (
  select
    f.*,
    u.unit_type,
    u.station_id as home_station_id,
    u.unit_id is not null as unit_known,
    s.latitude as station_latitude,
    s.longitude as station_longitude,
    s.station_id is not null as station_known
  from first_arrivals f
  left join units u
    on u.unit_id = f.first_arriving_unit and (u.agency is null or u.agency = f.agency)
  left join stations s
    on s.station_id = u.station_id and (s.agency is null or s.agency = f.agency)
)

select
  agency,
  incident_id,
  priority,
  call_category,
  local_hour,
  travel_s,
  first_arriving_unit,
  unit_type,
  home_station_id,
  station_latitude,
  station_longitude,
  latitude,
  longitude,
  case
    when first_arriving_unit is null then 'no_unit_on_scene'
    when travel_s is null then 'no_travel_time'
    when not unit_known then 'no_home_station'
    when not station_known then 'unknown_station'
    when latitude is null or longitude is null then 'no_coordinates'
  end as reason
from with_home
order by agency, incident_id
