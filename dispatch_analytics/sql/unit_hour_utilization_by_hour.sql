-- name: unit_hour_utilization_by_hour
-- description: Unit-hour utilisation per unit and local hour of day (0-23): the unit's committed
--   time (the union of its dispatched_at -> cleared_at intervals, overlaps counted once) falling
--   in that clock hour over the window, divided by the hours of the window in that clock hour
--   (one per day; DST days have one hour fewer or one more). The window and the rules are those
--   of unit_hour_utilization: local midnight of $from_date (inclusive) to local midnight of
--   $to_date (EXCLUSIVE); responses without a cleared time add nothing. Every hour of every
--   unit with a response or committed time in the window is listed (committed_h = 0 when idle).
-- params: from_date (local date, inclusive), to_date (local date, exclusive),
--   agency (optional: only this agency's units; NULL = every agency, unit ids then assumed unique across agencies)
-- returns: unit_id, hour, committed_h, window_h, uhu
with scoped as (
  select
    r.unit_id, r.dispatched_at, r.cleared_at, r.timezone,
    coalesce(r.dispatched_at, r.call_received_at) as placed_at,
    timezone(r.timezone, cast($from_date as date)::timestamp) as window_start,
    timezone(r.timezone, cast($to_date as date)::timestamp) as window_end
  from responses r
  where r.unit_id is not null and r.unit_id <> ''
    and ($agency is null or r.agency = $agency)
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
  select unit_id, any_value(timezone) as timezone, any_value(window_start) as window_start,
    any_value(window_end) as window_end
  from scoped
  where (placed_at >= window_start and placed_at < window_end)
     or (cleared_at > window_start and dispatched_at < window_end)
  group by unit_id
), window_hours as (
  -- every hour of the window, once per time zone: hours of the window in each clock hour
  select timezone, hour(timezone(timezone, slot_start)) as hour, count(*)::double as window_h
  from (
    select timezone,
      unnest(generate_series(window_start, window_end - interval 1 hour, interval 1 hour))
        as slot_start
    from (select distinct timezone, window_start, window_end from units)
    where window_end > window_start
  )
  group by timezone, hour
), island_hours as (
  -- each busy island split at the window's hour boundaries (rows: islands x hours spanned)
  select
    m.unit_id, u.timezone, m.busy_from, m.busy_to,
    u.window_start + to_hours(unnest(range(
      ((epoch_us(m.busy_from) - epoch_us(u.window_start)) // 3600000000)::bigint,
      ((epoch_us(m.busy_to) - epoch_us(u.window_start) - 1) // 3600000000 + 1)::bigint
    ))) as slot_start
  from merged m
  join units u on u.unit_id = m.unit_id
), hour_busy as (
  select
    unit_id,
    hour(timezone(timezone, slot_start)) as hour,
    sum(epoch_us(least(busy_to, slot_start + interval 1 hour))
        - epoch_us(greatest(busy_from, slot_start))) / 3.6e9 as committed_h
  from island_hours
  group by unit_id, hour
)
select
  u.unit_id,
  w.hour,
  coalesce(b.committed_h, 0) as committed_h,
  w.window_h,
  coalesce(b.committed_h, 0) / w.window_h as uhu
from units u
join window_hours w on w.timezone = u.timezone
left join hour_busy b on b.unit_id = u.unit_id and b.hour = w.hour
order by u.unit_id, w.hour
