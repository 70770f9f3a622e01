create or replace temp macro da_fractiles_ref(
  tbl, percentiles := [50.0, 90.0, 95.0], conf := 0.95, min_n := 30
) as table
  with fr_rows as (
    select
      grp, pct::double as pct, value_s::double as value_s, target_s::double as target_s,
      excluded_reason::varchar as excluded_reason,
      excluded_reason is null and value_s is not null as counted
    from query_table(tbl)
  ), fr_groups as (
    -- one pass; every aggregate is cheap but the sorted list the ranks index into
    select
      grp, pct,
      count(*) filter (where excluded_reason is not null and value_s is null) as n_missing,
      histogram(excluded_reason) as reasons,
      count(*) filter (where counted and isinf(value_s)) as n_unmet,
      avg(value_s) filter (where counted and isfinite(value_s)) as mean_s,
      count(target_s) filter (where counted) as n_targeted,
      count(*) filter (where counted and value_s <= target_s) as n_on_target,
      case when min(target_s) = max(target_s) then min(target_s) end as target_s,
      coalesce(list_sort(list(value_s) filter (where counted)), []) as sorted_values
    from fr_rows
    group by grp, pct
  ), fr_counts as (
    select *, len(sorted_values) as n from fr_groups
  ), fr_ci as (
    select * from da_os_ci_ranks((select list({'n': n, 'pct': pct}) from fr_counts), conf := conf)
  ), fr_out as (
    select
      g.grp, g.n, g.n_missing, coalesce(list_sum(map_values(g.reasons)), 0) as n_excluded,
      g.n_unmet, g.mean_s,
      list_transform(percentiles, p -> da_nearest_rank(g.sorted_values, p)) as fractiles_s,
      g.pct as percentile,
      da_nearest_rank(g.sorted_values, g.pct) as p_value_s,
      g.sorted_values[c.ci_low_rank] as ci_low_s,
      g.sorted_values[c.ci_high_rank] as ci_high_s,
      g.target_s,
      case when g.n_targeted > 0 then g.n_on_target / g.n_targeted end as compliance,
      list_sort(list_transform(map_entries(g.reasons), e -> {'n': -e.value, 'reason': e.key}))
        as reasons
    from fr_counts g
    left join fr_ci c on c.n = g.n and c.pct = g.pct
  )
  select
    grp, n, n_missing, n_excluded, n_unmet, mean_s, fractiles_s, percentile, p_value_s,
    ci_low_s, ci_high_s, target_s, compliance,
    p_value_s <= target_s as met,
    da_flag(n, min_n, ci_low_s, ci_high_s) as flag,
    nullif(array_to_string(list_transform(reasons, e -> e.reason || ': ' || -e.n), '; '), '')
      as excluded
  from fr_out;
