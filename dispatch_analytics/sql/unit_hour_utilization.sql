-- name: unit_hour_utilization
-- description: Unit-hour utilisation (UHU) per unit: the hours the unit was committed (the union
--   of its dispatched_at -> cleared_at intervals, clipped to the window; overlapping or touching
--   intervals count once) divided by the hours of the window. The window runs from local
--   midnight of $from_date (inclusive) to local midnight of $to_date (EXCLUSIVE), in the agency
--   time zone (DST-exact: a change day has 23 or 25 hours). responses counts the unit's
--   responses dispatched in the window (received, when there is no dispatch time);
--   missing_cleared those with a dispatch but no cleared time and missing_dispatched those
--   without a dispatch time: neither adds committed time (never guessed). An interval with
--   cleared_at not after dispatched_at adds nothing. Units with no response and no committed
--   time in the window are not listed.
-- params: from_date (local date, inclusive), to_date (local date, exclusive),
--   agency (optional: only this agency's units; NULL = every agency, unit ids then assumed unique across agencies)
-- returns: unit_id, committed_h, window_h, uhu, responses, missing_cleared, missing_dispatched
with scoped as (
  select
    r.unit_id, r.dispatched_at, r.cleared_at,
    coalesce(r.dispatched_at, r.call_received_at) as placed_at,
    timezone(r.timezone, cast($from_date as date)::timestamp) as window_start,
    timezone(r.timezone, cast($to_date as date)::timestamp) as window_end
  from responses r
  where r.unit_id is not null and r.unit_id <> ''
    and ($agency is null or r.agency = $agency)
), window_responses as (
  select
    unit_id,
    count(*) as responses,
    count(*) filter (where dispatched_at is not null and cleared_at is null) as missing_cleared,
    count(*) filter (where dispatched_at is null) as missing_dispatched
  from scoped
  where placed_at >= window_start and placed_at < window_end
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
), committed as (
  select unit_id, sum(epoch_us(busy_to) - epoch_us(busy_from)) / 3.6e9 as committed_h
  from merged
  group by unit_id
), windows as (
  select unit_id, (epoch_us(any_value(window_end)) - epoch_us(any_value(window_start))) / 3.6e9
    as window_h
  from scoped
  group by unit_id
)
select
  u.unit_id,
  coalesce(c.committed_h, 0) as committed_h,
  w.window_h,
  case when w.window_h > 0 then coalesce(c.committed_h, 0) / w.window_h end as uhu,
  coalesce(r.responses, 0) as responses,
  coalesce(r.missing_cleared, 0) as missing_cleared,
  coalesce(r.missing_dispatched, 0) as missing_dispatched
from (select unit_id from window_responses union select unit_id from committed) u
join windows w on w.unit_id = u.unit_id
left join committed c on c.unit_id = u.unit_id
left join window_responses r on r.unit_id = u.unit_id
order by uhu desc nulls last, u.unit_id
