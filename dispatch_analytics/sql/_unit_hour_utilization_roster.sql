-- name: _unit_hour_utilization_roster
-- description: Not a listed query (its name starts with "_"): unit_hour_utilization with a
--   roster. The Python layer registers the relation `roster` (unit_id, staffed_from,
--   staffed_to: TIMESTAMPTZ) before running it. Each unit's staffed intervals are clipped to
--   the window and merged; window_h = the unit's staffed hours; committed_h = its busy time
--   (merged dispatched_at -> cleared_at intervals) inside staffed hours; busy time outside
--   them is reported as committed_unstaffed_h (not in uhu). Units with responses but no roster
--   line have window_h 0 and uhu NULL.
-- params: from_date (local date, inclusive), to_date (local date, exclusive),
--   agency (optional: only this agency's units; NULL = every agency, unit ids then assumed unique across agencies)
-- returns: unit_id, committed_h, window_h, uhu, responses, missing_cleared, missing_dispatched,
--   committed_unstaffed_h
with scoped as (
  select
    r.unit_id, r.dispatched_at, r.cleared_at,
    coalesce(r.dispatched_at, r.call_received_at) as placed_at,
    timezone(r.timezone, cast($from_date as date)::timestamp) as window_start,
    timezone(r.timezone, cast($to_date as date)::timestamp) as window_end
  from responses r
  where r.unit_id is not null and r.unit_id <> ''
    and ($agency is null or r.agency = $agency)
), bounds as (
  select
    coalesce(min(window_start), timezone('UTC', cast($from_date as date)::timestamp)) as window_start,
    coalesce(min(window_end), timezone('UTC', cast($to_date as date)::timestamp)) as window_end
  from scoped
), window_responses as (
  select
    unit_id,
    count(*) as responses,
    count(*) filter (where dispatched_at is not null and cleared_at is null) as missing_cleared,
    count(*) filter (where dispatched_at is null) as missing_dispatched
  from scoped
  where placed_at >= window_start and placed_at < window_end
  group by unit_id
), busy_clipped as (
  select unit_id, greatest(dispatched_at, window_start) as t_from, least(cleared_at, window_end) as t_to
  from scoped
  where cleared_at > dispatched_at and dispatched_at < window_end and cleared_at > window_start
), staffed_clipped as (
  select ro.unit_id, greatest(ro.staffed_from, b.window_start) as t_from,
    least(ro.staffed_to, b.window_end) as t_to
  from roster ro, bounds b
  where ro.staffed_to > ro.staffed_from
    and ro.staffed_from < b.window_end and ro.staffed_to > b.window_start
), both_kinds as (
  select 'busy' as kind, * from busy_clipped
  union all
  select 'staffed' as kind, * from staffed_clipped
), reach as (
  select
    *,
    max(t_to) over (partition by kind, unit_id order by t_from, t_to
                    rows between unbounded preceding and 1 preceding) as reach_to
  from both_kinds
), islands as (
  select
    *,
    sum(case when reach_to is null or t_from > reach_to then 1 else 0 end)
      over (partition by kind, unit_id order by t_from, t_to rows unbounded preceding) as island
  from reach
), merged as (
  select kind, unit_id, island, min(t_from) as t_from, max(t_to) as t_to
  from islands
  group by kind, unit_id, island
), busy_total as (
  select unit_id, sum(epoch_us(t_to) - epoch_us(t_from)) / 3.6e9 as busy_h
  from merged where kind = 'busy'
  group by unit_id
), staffed_total as (
  select unit_id, sum(epoch_us(t_to) - epoch_us(t_from)) / 3.6e9 as window_h
  from merged where kind = 'staffed'
  group by unit_id
), busy_staffed as (
  select b.unit_id,
    sum(epoch_us(least(b.t_to, s.t_to)) - epoch_us(greatest(b.t_from, s.t_from))) / 3.6e9
      as committed_h
  from merged b
  join merged s on s.unit_id = b.unit_id and s.kind = 'staffed'
   and b.t_from < s.t_to and b.t_to > s.t_from
  where b.kind = 'busy'
  group by b.unit_id
)
select
  u.unit_id,
  coalesce(c.committed_h, 0) as committed_h,
  coalesce(s.window_h, 0) as window_h,
  case when s.window_h > 0 then coalesce(c.committed_h, 0) / s.window_h end as uhu,
  coalesce(r.responses, 0) as responses,
  coalesce(r.missing_cleared, 0) as missing_cleared,
  coalesce(r.missing_dispatched, 0) as missing_dispatched,
  coalesce(t.busy_h, 0) - coalesce(c.committed_h, 0) as committed_unstaffed_h
from (
  select unit_id from window_responses
  union select unit_id from busy_total
  union select unit_id from staffed_total
) u
left join staffed_total s on s.unit_id = u.unit_id
left join busy_staffed c on c.unit_id = u.unit_id
left join busy_total t on t.unit_id = u.unit_id
left join window_responses r on r.unit_id = u.unit_id
order by uhu desc nulls last, u.unit_id
