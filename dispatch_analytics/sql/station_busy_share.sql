-- name: station_busy_share
-- description: Busy share per station and local hour band: the committed hours of the
--   station's units in the band (each unit's dispatched_at -> cleared_at intervals merged,
--   overlaps counted once) divided by (units x hours of the band in the window), i.e. the
--   chance that one of the station's units, picked at a random moment of the band, is busy:
--   the busy fraction of MEXCLP-style coverage models. A unit's station is the station_id it
--   carries most often on its responses (ties: the smallest id), read as its HOME station
--   (as first_due_reliability assumes); a unit counts for a station when it had a response or
--   committed time in the window. Bands are $band_h hours long from local midnight ($band_h
--   divides 24). Window: local midnight of $from_date (inclusive) to local midnight of
--   $to_date (EXCLUSIVE). Responses without a cleared time add nothing (see
--   unit_hour_utilization for how many).
-- params: from_date (local date, inclusive), to_date (local date, exclusive),
--   band_h (default 4; hours per band, dividing 24)
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
), station_counts as (
  select unit_id, station_id, count(*) as n
  from scoped
  where station_id is not null and station_id <> ''
  group by unit_id, station_id
), unit_home as (
  select unit_id, first(station_id order by n desc, station_id) as station_id
  from station_counts
  group by unit_id
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
), units as (
  select s.unit_id, h.station_id, any_value(s.timezone) as timezone,
    any_value(s.window_start) as window_start, any_value(s.window_end) as window_end
  from scoped s
  join unit_home h on h.unit_id = s.unit_id
  where (s.placed_at >= s.window_start and s.placed_at < s.window_end)
     or (s.cleared_at > s.window_start and s.dispatched_at < s.window_end)
  group by s.unit_id, h.station_id
), slots as (
  select unit_id, station_id, timezone, slot_start, slot_start + interval 1 hour as slot_end
  from (
    select unit_id, station_id, timezone,
      unnest(generate_series(window_start, window_end - interval 1 hour, interval 1 hour))
        as slot_start
    from units
    where window_end > window_start
  )
), slot_busy as (
  select
    s.station_id, s.unit_id,
    hour(timezone(s.timezone, s.slot_start)) // $band_h * $band_h as band_start_hour,
    -- least / greatest skip NULLs: a slot without a busy interval must add 0, not 1 hour
    coalesce(sum(epoch_us(least(m.busy_to, s.slot_end))
                 - epoch_us(greatest(m.busy_from, s.slot_start)))
             filter (where m.unit_id is not null), 0) / 3.6e9 as committed_h
  from slots s
  left join merged m
    on m.unit_id = s.unit_id and m.busy_from < s.slot_end and m.busy_to > s.slot_start
  group by s.station_id, s.unit_id, s.slot_start, s.timezone
)
select
  station_id,
  band_start_hour::integer as band_start_hour,
  (band_start_hour + $band_h)::integer as band_end_hour,
  count(distinct unit_id) as n_units,
  sum(committed_h) as committed_h,
  count(*)::double as unit_window_h,
  sum(committed_h) / count(*) as busy_share
from slot_busy
group by station_id, band_start_hour
order by station_id, band_start_hour
