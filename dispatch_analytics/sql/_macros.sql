-- Shared statistics macros of the metric queries. Not a query (files starting with "_" are not
-- listed). `dispatch query`, `dispatch_analytics.queries.run_query` and the Python metrics engine
-- create them (as temporary macros, so a read-only catalog connection works) before running
-- anything; in a plain DuckDB client run this file once per session first:
--     duckdb -readonly dispatch_data/catalog.duckdb -init queries/_macros.sql
-- The Python functions dispatch_analytics.metrics.nearest_rank / order_statistic_ci implement
-- exactly the same rules and the tests check that both give identical ranks.

-- Nearest-rank percentile index (1-based): the smallest rank r with r / n >= pct / 100, i.e.
-- ceil(pct / 100 * n), computed in exact integer arithmetic (pct resolved to 1e-6 of a percent)
-- so that, e.g., pct = 70 and n = 10 gives rank 7, never 8. NULL when n = 0.
create or replace temp macro da_nr_rank(n, pct) as
  case when n > 0 then
    greatest(1, ((round(pct::double * 1000000)::hugeint * n + 99999999) // 100000000)::bigint)
  end;

-- Nearest-rank percentile of a list sorted ascending without NULLs:
-- `da_nearest_rank(list_sort(list(x) filter (where x is not null)), 90)`.
-- The value of the 1-based rank ceil(pct / 100 * n). NULL for an empty list.
create or replace temp macro da_nearest_rank(sorted_values, pct) as
  sorted_values[da_nr_rank(len(sorted_values), pct)];

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
