-- name: station_busy_share
-- description: Busy share per station and local hour band: the committed hours of the
--   station's units in the band (each unit's dispatched_at -> cleared_at intervals merged,
--   overlaps counted once) divided by (units x hours of the band in the window), i.e. the
--   chance that one of the station's units, picked at a random moment of the band, is busy:
--   the busy fraction of MEXCLP-style coverage models. A unit's station is its home station
--   from the units roster (`dispatch units load`) when loaded, else the station_id it
--   carries most often on its responses (ties: the smallest id); a unit counts for a station when it had a response or
--   committed time in the window. Bands are $band_h hours long from local midnight ($band_h
--   divides 24). Window: local midnight of $from_date (inclusive) to local midnight of
--   $to_date (EXCLUSIVE). Responses without a cleared time add nothing (see
--   unit_hour_utilization for how many).
-- params: from_date (local date, inclusive), to_date (local date, exclusive),
--   band_h (default 4; hours per band, dividing 24),
--   agency (optional: only this agency's units; NULL = every agency, unit ids then assumed unique across agencies)
-- returns: station_id, band_start_hour, band_end_hour, n_units, committed_h, unit_window_h,
--   busy_share
with scoped as (
  select
    r.unit_id, r.station_id, r.dispatched_at, r.cleared_at, r.timezone,
    coalesce(r.dispatched_at, r.call_received_at) as placed_at,
    timezone(r.timezone, cast($from_date as date)::timestamp) as window_start,
    timezone(r.timezone, cast($to_date as date)::timestamp) as window_end
  from responses r
  where r.unit_id is not null and r.unit_id <> ''
    and ($agency is null or r.agency = $agency)
), station_counts as (
  select unit_id, station_id, count(*) as n
  from scoped
  where station_id is not null and station_id <> ''
  group by unit_id, station_id
), roster_home as (
  -- the home stations loaded with `dispatch units load` / `units derive` come first
  select unit_id, min(station_id) as station_id
  from units
  where station_id is not null and station_id <> ''
    and ($agency is null or agency is null or agency = $agency)
  group by unit_id
), history_home as (
  select unit_id, first(station_id order by n desc, station_id) as station_id
  from station_counts
  group by unit_id
), unit_home as (
  select unit_id, station_id from roster_home
  union all
  select h.unit_id, h.station_id from history_home h anti join roster_home r using (unit_id)
), clipped as (
  select
    unit_id,
    greatest(dispatched_at, window_start) as busy_from,
    least(cleared_at, window_end) as busy_to
  from scoped
  where cleared_at > dispatched_at and dispatched_at < window_end and cleared_at > window_start
), reach as (
  select
    *,
    max(busy_to) over (partition by unit_id order by busy_from, busy_to
                       rows between unbounded preceding and 1 preceding) as reach_to
  from clipped
), islands as (
  select
    *,
    sum(case when reach_to is null or busy_from > reach_to then 1 else 0 end)
      over (partition by unit_id order by busy_from, busy_to rows unbounded preceding) as island
  from reach
), merged as (
  select unit_id, island, min(busy_from) as busy_from, max(busy_to) as busy_to
  from islands
  group by unit_id, island
), active_units as (
  select s.unit_id, h.station_id, any_value(s.timezone) as timezone,
    any_value(s.window_start) as window_start, any_value(s.window_end) as window_end
  from scoped s
  join unit_home h on h.unit_id = s.unit_id
  where (s.placed_at >= s.window_start and s.placed_at < s.window_end)
     or (s.cleared_at > s.window_start and s.dispatched_at < s.window_end)
  group by s.unit_id, h.station_id
), window_bands as (
  -- every hour of the window, once per time zone: hours of the window in each band
  select timezone, hour(timezone(timezone, slot_start)) // $band_h * $band_h as band_start_hour,
    count(*)::double as window_h
  from (
    select timezone,
      unnest(generate_series(window_start, window_end - interval 1 hour, interval 1 hour))
        as slot_start
    from (select distinct timezone, window_start, window_end from active_units)
    where window_end > window_start
  )
  group by timezone, band_start_hour
), island_hours as (
  -- each busy island split at the window's hour boundaries (rows: islands x hours spanned)
  select
    m.unit_id, u.station_id, u.timezone, m.busy_from, m.busy_to,
    u.window_start + to_hours(unnest(range(
      ((epoch_us(m.busy_from) - epoch_us(u.window_start)) // 3600000000)::bigint,
      ((epoch_us(m.busy_to) - epoch_us(u.window_start) - 1) // 3600000000 + 1)::bigint
    ))) as slot_start
  from merged m
  join active_units u on u.unit_id = m.unit_id
), band_busy as (
  select
    station_id,
    hour(timezone(timezone, slot_start)) // $band_h * $band_h as band_start_hour,
    sum(epoch_us(least(busy_to, slot_start + interval 1 hour))
        - epoch_us(greatest(busy_from, slot_start))) / 3.6e9 as committed_h
  from island_hours
  group by station_id, band_start_hour
), station_units as (
  select station_id, timezone, count(*) as n_units
  from active_units
  group by station_id, timezone
)
select
  s.station_id,
  w.band_start_hour::integer as band_start_hour,
  (w.band_start_hour + $band_h)::integer as band_end_hour,
  s.n_units,
  coalesce(b.committed_h, 0) as committed_h,
  s.n_units * w.window_h as unit_window_h,
  coalesce(b.committed_h, 0) / (s.n_units * w.window_h) as busy_share
from station_units s
join window_bands w on w.timezone = s.timezone
left join band_busy b on b.station_id = s.station_id and b.band_start_hour = w.band_start_hour
order by s.station_id, band_start_hour
