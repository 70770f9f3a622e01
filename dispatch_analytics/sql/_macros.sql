-- Shared statistics macros of the metric queries. Not a query (files starting with "_" are not
-- listed). The catalog (catalog.duckdb) holds them, so any SQL client has them:
--     duckdb -readonly dispatch_data/catalog.duckdb
-- `dispatch query`, `dispatch_analytics.queries.run_query`, the Python metrics engine and the
-- dashboard also create them (as temporary macros, so a read-only catalog connection works)
-- before running anything; in a DuckDB session without the catalog run this file first.
-- da_fractiles is THE fractile implementation: every query, Fractiles.from_store, the report
-- and the dashboard compute their percentiles, CIs and compliance with it. The tests check it
-- against independent Python / numpy / scipy implementations (tests/stats_reference.py).

-- Nearest-rank percentile of a list sorted ascending without NULLs:
-- `da_nearest_rank(list_sort(list(x) filter (where x is not null)), 90)`.
-- The value at the 1-based rank r = ceil(pct / 100 * n), the smallest rank with r / n >=
-- pct / 100, computed in exact integer arithmetic (pct resolved to 1e-6 of a percent) so that,
-- e.g., pct = 70 and n = 10 gives rank 7, never 8. NULL for an empty list.
create or replace temp macro da_nearest_rank(sorted_values, pct) as
  sorted_values[
    case when len(sorted_values) > 0 then
      greatest(1, ((round(pct::double * 1000000)::hugeint * len(sorted_values) + 99999999)
                   // 100000000)::bigint)
    end
  ];

-- Distribution-free (order-statistic) confidence interval ranks for the pct-th percentile.
-- Input: a list of structs {'n': sample size, 'pct': percentile in (0, 100)}; output one row per
-- distinct (n, pct): n, pct, ci_low_rank, ci_high_rank (1-based ranks into the sorted values).
-- With B(k) the binomial(n, pct / 100) CDF and a = (1 - conf) / 2:
--   ci_low_rank  l = the largest l with B(l - 1) <= a   (the number of k in 0..n with B(k) <= a)
--   ci_high_rank u = the smallest u with B(u - 1) >= 1 - a
-- so that P(X(l) <= Q <= X(u)) = B(u - 1) - B(l - 1) >= conf. A rank outside 1..n means the
-- interval is unbounded on that side (the sample is too small): it is returned as NULL.
-- Only k within 12 sd (+10) of n p are summed (the rest carry under 1e-20 of the mass).
-- B(k) sums exp(lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1) + k ln p + (n - k) ln(1 - p));
-- both comparisons allow 1e-9 of rounding slack so exact ties (possible when p is a decimal
-- like 0.9) are decided the same way in every engine. NULL ranks when pct is not in (0, 100).
create or replace temp macro da_os_ci_ranks(pairs, conf := 0.95) as table
  with wanted as (
    select distinct n::bigint as n, pct::double as pct
    from (select unnest(pairs, recursive := true))
  ), windows as (
    -- only k within 12 standard deviations (+10) of n p carry mass: below the window B(k) is
    -- under 1e-20 (so <= a), above it over 1 - 1e-20; skipping them keeps the work per group
    -- near 24 sd instead of n (10M incidents: 3.8 s -> 0.1 s). Same window in Python.
    select n, pct,
      greatest(0, floor(n * pct / 100 - 12 * sqrt(n * pct / 100 * (1 - pct / 100)) - 10))::bigint
        as k_lo,
      least(n, ceil(n * pct / 100 + 12 * sqrt(n * pct / 100 * (1 - pct / 100)) + 10))::bigint
        as k_hi
    from wanted
    where n > 0 and pct > 0 and pct < 100
  ), terms as (
    select n, pct, k_lo, unnest(range(k_lo, k_hi + 1)) as k
    from windows
  ), cdf as (
    select
      n, pct, k_lo, k,
      sum(exp(lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1)
              + k * ln(pct / 100) + (n - k) * ln(1 - pct / 100)))
        over (partition by n, pct order by k rows between unbounded preceding and current row)
        as cdf
    from terms
  ), ranks as (
    select
      n, pct,
      any_value(k_lo) + count(*) filter (where cdf <= (1 - conf::double) / 2 + 1e-9) as low_rank,
      min(k) filter (where cdf >= 1 - (1 - conf::double) / 2 - 1e-9) + 1 as high_rank
    from cdf
    group by n, pct
  )
  select
    w.n, w.pct,
    case when r.low_rank >= 1 then r.low_rank end as ci_low_rank,
    case when r.high_rank <= w.n then r.high_rank end as ci_high_rank
  from wanted w
  left join ranks r on r.n = w.n and r.pct = w.pct;

-- Small-sample / CI flag of a fractile row (the order of the checks is the priority).
create or replace temp macro da_flag(n, min_n, ci_low, ci_high) as
  case
    when n = 0 then 'no_data'
    when n < min_n then 'small_sample'
    when ci_low is null or ci_high is null then 'ci_unbounded'
  end;

-- The exact fraction of a percentile for quantile_disc: pct / 100 resolved to 1e-8 (1e-6 of
-- a percent, as in da_nearest_rank) as a DECIMAL(18,8). DuckDB's discrete quantile of a DECIMAL
-- fraction q picks the 0-based index max(1, n - (n * scale - n * q_int) // scale) - 1 in
-- integer arithmetic, i.e. the 1-based rank max(1, ceil(n q)): the nearest rank, exactly, so
-- `quantile_disc(x, da_fraction(90))` is the nearest-rank p90 (a DOUBLE pct / 100 is not
-- exact: 99.9 / 100 = 0.9990000000000001 picks rank 1000 of 1000, not 999). The fraction must
-- be a constant for quantile_disc. Clamped to [0, 1] (a bracketing pct -/+ d may step out).
create or replace temp macro da_fraction(pct) as
  (greatest(0, least(100000000, round(pct::double * 1000000)::bigint))::decimal(18,0)
   * 0.00000001::decimal(18,8))::decimal(18,8);

-- The 1-based nearest rank max(1, ceil(n pct / 100)) in exact integer arithmetic, pct clamped
-- to [0, 100] like da_fraction (the rank da_nearest_rank and quantile_disc at da_fraction(pct)
-- pick); NULL when n = 0.
create or replace temp macro da_rank(n, pct) as
  case when n > 0 then
    least(n, greatest(1, ((greatest(0, least(100000000, round(pct::double * 1000000)::bigint))
                           ::hugeint * n + 99999999) // 100000000)::bigint))
  end;

-- Fractiles, CI and compliance of every group of a relation: THE fractile implementation.
--   select * from da_fractiles(my_rows, percentiles := [50, 90], conf := 0.95, min_n := 30)
-- `tbl` names a table, view or CTE with the columns
--   grp              the group: any type, usually a struct of the group keys
--                    ({'zone_id': z, 'period_start': p}; read them back as grp.zone_id)
--   value_s          the value (seconds; +inf = never reached, e.g. an ERF never assembled)
--   target_s         the target this row is compared with (NULL = none)
--   pct              the percentile (in percent) to report and compare with the target
--   excluded_reason  NULL when the value counts; else why it does not (e.g. 'missing
--                    on_scene_at'): the row is counted in n_excluded and in `excluded`
-- A row with value_s and excluded_reason both NULL is a placeholder: it only makes its group
-- (and pct) appear, so a caller lists empty groups (n = 0, flag no_data) by adding one such
-- row per wanted group. One output row per (grp, pct):
--   n            values counted (excluded_reason NULL, value_s not NULL)
--   n_missing    rows excluded without a value; n_excluded: rows excluded for any reason
--   n_unmet      counted values that are +inf
--   mean_s       mean of the finite counted values (for reference: targets are fractiles)
--   fractiles_s  the nearest-rank fractiles at `percentiles`, in that order (a list)
--   percentile, p_value_s       pct and the nearest-rank fractile at it
--   ci_low_s, ci_high_s         its distribution-free `conf` CI (NULL = unbounded on that side)
--   target_s     the rows' target when they share one (NULL when none, or when they differ)
--   compliance   share of the counted values with a target that are <= their own target
--   met          p_value_s <= target_s (equal to compliance >= pct / 100)
--   flag         da_flag(n, min_n, ci_low_s, ci_high_s)
--   excluded     why rows were excluded, most frequent first: 'missing on_scene_at: 12;
--                missing enroute_at and on_scene_at: 3' (NULL when none was)
create or replace temp macro da_fractiles(
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
