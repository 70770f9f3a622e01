"""The measured steps of ``bench/bench_metrics.py``: each runs in a child process (the
script re-run with ``--step``), so its peak RSS is its own."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

WORK = HERE / "_work"
NHOODS = HERE.parent / "sample_data" / "sf_week" / "sf_analysis_neighborhoods.geojson"
LAYER, ID_FIELD = "neighborhoods", "nhood"
QUERY_PARAMS = {"metric": "total_response", "layer": LAYER, "period": "month", "target_s": 480}
FRACTILES_KW = {"metric": "total_response", "by": (f"layer:{LAYER}", "month"), "target_s": 480}
TZ = "America/Los_Angeles"
FMT = "%Y-%m-%d %H:%M:%S"


def rss_mb(field: str = "VmHWM") -> float:
    """This process's peak (VmHWM) or current (VmRSS) resident set, MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")  # pragma: no cover - not Linux


def _timed(fn, repeat: int) -> tuple[float, float, object]:
    """(first run seconds, best seconds, last result) over ``repeat`` runs."""
    times, res = [], None
    for _ in range(max(repeat, 1)):
        t = time.perf_counter()
        res = fn()
        times.append(time.perf_counter() - t)
    return times[0], min(times), res


# ============================================================================ steps (children)
def step_points(kind: str, n: int, seed: int) -> dict:
    import geopandas as gpd
    import numpy as np
    import shapely
    from synth import SF_BBOX

    from dispatch_analytics.spatial import zones as Z

    zones = gpd.read_file(NHOODS).rename(columns={ID_FIELD: "zone_id"})
    geoms = np.asarray(zones.geometry.values, dtype=object)
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = SF_BBOX  # as synth._arrays places incidents
    lon = x0 + rng.random(n) * (x1 - x0)
    lat = y0 + rng.random(n) * (y1 - y0)
    before = rss_mb("VmRSS")
    t = time.perf_counter()
    if kind == "index":
        idx = Z.assign_point_index(lon, lat, geoms)
        secs = time.perf_counter() - t
        inside = float(np.mean(idx >= 0))
    else:
        ids = Z.assign_points(lon, lat, zones)
        secs = time.perf_counter() - t
        inside = float(np.mean(ids != None))  # noqa: E711
    return {
        "seconds": secs,
        "inputs_mb": before,
        "peak_mb": rss_mb(),
        "inside": inside,
        "zones": len(zones),
        "vertices": int(shapely.get_num_coordinates(geoms).sum()),
    }


def step_build_store(root: str, n: int, seed: int) -> dict:
    """``synth.make_store`` without its one-shot derived refresh (at 10M unit rows that
    refresh peaks above 20 GB, more than a shared box has: measured 2026-12-01), then the
    derived incidents table built one 2M-row file at a time (:func:`derived_by_file`)."""
    from synth import make_store

    from dispatch_analytics.store import Store

    t = time.perf_counter()
    refresh = Store.refresh_derived
    Store.refresh_derived = lambda self: None  # built below, a file at a time
    try:
        store = make_store(Path(root), n, seed=seed)
    finally:
        Store.refresh_derived = refresh
    derived_by_file(store)
    return {"seconds": time.perf_counter() - t, "peak_mb": rss_mb()}


def derived_by_file(store) -> None:
    """The store's derived incidents table, computed with the store's own SQL over each
    responses file alone and published with the store's own writer. Exact for
    ``synth.make_store``, whose files hold disjoint incidents (an incident's unit rows are
    never split between files); not a general replacement for ``refresh_derived``."""
    import duckdb

    from dispatch_analytics.store.derived_sql import dedupe_sql, incidents_sql

    parts_dir = store.tmp_dir / "derived_parts"
    shutil.rmtree(parts_dir, ignore_errors=True)
    parts_dir.mkdir(parents=True)
    files = sorted(store.batches_dir.glob("*/responses-*.parquet"))
    parts = []
    for i, f in enumerate(files):
        con = duckdb.connect()
        con.execute("set preserve_insertion_order = false")
        con.execute(
            "create view responses_all as select * replace (coalesce(agency, profile) as "
            f"agency) from read_parquet(['{f}', '{store.schema_file('responses')}'], "
            "union_by_name = true)"
        )
        con.execute(f"create view responses as {dedupe_sql('responses_all')}")
        part = parts_dir / f"part-{i:05d}.parquet"
        con.execute(f"copy ({incidents_sql('responses')}) to '{part}' (format parquet)")
        con.close()
        parts.append(f"'{part}'")
    con = store.connect(read_only=False)
    try:
        store._write_derived(
            con,
            f"select * from read_parquet([{', '.join(parts)}])",
            "select distinct batch_id from responses_all union select batch_id from ingest_log",
        )
    finally:
        con.close()
        shutil.rmtree(parts_dir, ignore_errors=True)


def step_load_zones(root: str) -> dict:
    from dispatch_analytics.spatial.zones import load_zones

    before = rss_mb("VmRSS")
    t = time.perf_counter()
    rep = load_zones(root, NHOODS, LAYER, id_field=ID_FIELD)
    return {
        "seconds": time.perf_counter() - t,
        "inputs_mb": before,
        "peak_mb": rss_mb(),
        "assigned": rep.incidents_assigned,
        "outside": rep.incidents_outside,
        "unlocated": rep.incidents_unlocated,
    }


def bare_sql(root: str) -> str:
    """The bare DuckDB group-by: p90 by zone x local month over the store's Parquet files
    (the derived incidents and the layer's assignment), no catalog, no macros."""
    r = Path(root)
    # the derived incidents: one file or several (incidents-00000.parquet, ...)
    inc = r / "lake" / "derived" / "current" / "incidents*.parquet"
    # the layer's current assignment: the newest file (a re-load writes a new generation)
    izones = max(
        (r / "spatial" / "incident_zones").glob(f"{LAYER}.*.parquet"), key=os.path.getmtime
    )
    files = f"'{izones}'"
    return f"""select z.zone_id, cast(date_trunc('month', i.call_received_local_at) as date) as month,
  count(*) as n, quantile_disc(i.total_response_s, 0.9) as p90_s
from read_parquet('{inc}') i
left join read_parquet({files}) z on z.agency = i.agency and z.incident_id = i.incident_id
where i.total_response_s is not null
group by all"""


def layer_loaded(root: Path) -> bool:
    """Whether the cached store already holds the neighbourhood layer and its assignment."""
    z = root / "spatial"
    return any((z / "zones").glob(f"{LAYER}.*.parquet")) and any(
        (z / "incident_zones").glob(f"{LAYER}.*.parquet")
    )


def step_bare_duckdb(root: str, repeat: int, out: str) -> dict:
    import duckdb

    con = duckdb.connect()
    sql = bare_sql(root)
    first, best, _ = _timed(lambda: con.execute(sql).fetchall(), repeat)
    con.execute(f"copy ({sql}) to '{out}' (format parquet)")
    return {"first_s": first, "best_s": best, "peak_mb": rss_mb()}


def step_query(root: str, repeat: int, out: str) -> dict:
    from dispatch_analytics import Store
    from dispatch_analytics.metrics.fractiles import Fractiles
    from dispatch_analytics.metrics.queries import run_query

    t = time.perf_counter()
    con = Store(root, create=False).connect()  # read-only catalog
    res: dict = {"open_s": time.perf_counter() - t}
    first, best, df = _timed(
        lambda: run_query(con, "fractile_compliance", dict(QUERY_PARAMS)), repeat
    )
    df.write_parquet(out)
    res.update(query_first_s=first, query_best_s=best, groups=df.height, n_total=int(df["n"].sum()))
    first, best, f = _timed(lambda: Fractiles.from_store(con, **FRACTILES_KW), repeat)
    res.update(
        fractiles_first_s=first,
        fractiles_best_s=best,
        fractiles_groups=f.table.height,
        peak_mb=rss_mb(),
    )
    con.close()
    return res


# Long: one timing per piece of the query, each a plain statement; a list reads worse
def step_profile(root: str, repeat: int) -> dict:
    """Where the query's time goes: each piece timed alone (best of ``repeat``)."""
    from dispatch_analytics import Store
    from dispatch_analytics.metrics.queries import get_query, inline_params, prepare

    con = Store(root, create=False).connect()
    prepare(con)

    def secs(sql: str) -> float:
        return _timed(lambda: con.execute(sql).fetchall(), repeat)[1]

    bind = {**QUERY_PARAMS, "percentile": 90, "min_n": 30, "call_category": None, "agency": None}
    full = inline_params(get_query("fractile_compliance").sql, bind)
    rows_sql = full.split("with interval_rows as (", 1)[1].split("\n)\n", 1)[0]
    res = {
        "incidents_view_s": secs("select sum(total_response_s) from incidents"),
        "derived_file_s": secs("select sum(total_response_s) from _derived_incidents"),
        "fresh_incidents_s": secs("select count(*) from _fresh_incidents"),
        "incident_zones_s": secs(f"select count(*) from incident_zones where layer = '{LAYER}'"),
        "rows_s": secs(f"select count(*), sum(value_s) from ({rows_sql})"),
        "query_s": secs(full),
    }
    con.execute(f"create temp table rows_mat as {rows_sql}")
    res["macro_s"] = secs(
        "select * from da_fractiles(rows_mat, percentiles := [50, 90, 95], min_n := 30)"
    )
    res["sorted_lists_s"] = secs(
        "select grp, list_sort(list(value_s) filter (where excluded_reason is null)) "
        "from rows_mat group by grp"
    )
    res["quantile_disc_s"] = secs(
        "select grp, quantile_disc(value_s, 0.9) from rows_mat group by grp"
    )
    res["ci_ranks_s"] = secs(
        "select count(*) from da_os_ci_ranks((select list({'n': n, 'pct': 90.0}) from "
        "(select count(*) as n from rows_mat group by grp)))"
    )
    con.close()
    return res


def step_bare_read(csv: str) -> dict:
    import polars as pl

    t = time.perf_counter()
    df = pl.read_csv(csv)
    return {"seconds": time.perf_counter() - t, "rows": df.height, "peak_mb": rss_mb()}


def step_ours(csv: str, mapping: str, root: str, out: str) -> dict:
    from dispatch_analytics import Store, ingest, load_profile
    from dispatch_analytics.metrics.queries import run_query
    from dispatch_analytics.spatial.zones import load_zones

    t0 = time.perf_counter()
    rep = ingest(csv, load_profile(mapping), data_dir=root)
    t1 = time.perf_counter()
    zr = load_zones(root, NHOODS, LAYER, id_field=ID_FIELD)
    t2 = time.perf_counter()
    con = Store(root, create=False).connect()
    df = run_query(con, "fractile_compliance", dict(QUERY_PARAMS))
    con.close()
    t3 = time.perf_counter()
    df.write_parquet(out)
    return {
        "seconds": t3 - t0,
        "ingest_s": t1 - t0,
        "zones_s": t2 - t1,
        "query_s": t3 - t2,
        "rows": rep.rows_read,
        "accepted": rep.rows_accepted,
        "rejected": rep.rows_rejected,
        "rejects": rep.rejects_by_reason,
        "assigned": zr.incidents_assigned,
        "groups": df.height,
        "peak_mb": rss_mb(),
    }


def step_pandas(csv: str, out: str) -> dict:
    import geopandas as gpd
    import numpy as np
    import pandas as pd
    import polars as pl

    def nearest_rank(p):
        def f(s):
            return np.percentile(s.to_numpy(), p, method="inverted_cdf") if len(s) else np.nan

        f.__name__ = f"p{p}_s"
        return f

    t0 = time.perf_counter()
    df = pd.read_csv(csv, usecols=["RCVD", "ARRV", "LAT", "LON"])  # only what the job needs
    t1 = time.perf_counter()
    rcvd = pd.to_datetime(df["RCVD"], format=FMT)
    arrv = pd.to_datetime(df["ARRV"], format=FMT)
    rcvd_tz = rcvd.dt.tz_localize(TZ, ambiguous="NaT", nonexistent="NaT")
    arrv_tz = arrv.dt.tz_localize(TZ, ambiguous="NaT", nonexistent="NaT")
    df["total_response_s"] = (arrv_tz - rcvd_tz).dt.total_seconds()
    df["month"] = rcvd.dt.to_period("M").dt.start_time.where(rcvd_tz.notna())
    t2 = time.perf_counter()
    nb = gpd.read_file(NHOODS)[[ID_FIELD, "geometry"]]
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(df["LON"], df["LAT"]), crs="EPSG:4326")
    j = gpd.sjoin(pts, nb, predicate="within", how="left")
    j = j[~j.index.duplicated(keep="first")]  # a point on a shared edge: first zone
    df["zone_id"] = j[ID_FIELD].reindex(df.index)
    t3 = time.perf_counter()
    ok = df[df["month"].notna() & df["total_response_s"].notna()]
    ok = ok.assign(on_target=ok["total_response_s"] <= 480)
    g = ok.groupby(["zone_id", "month"], dropna=False)
    res = g["total_response_s"].agg(
        ["count", "mean", nearest_rank(50), nearest_rank(90), nearest_rank(95)]
    )
    res["compliance"] = g["on_target"].mean()
    res = res.rename(columns={"count": "n", "mean": "mean_s"}).reset_index()
    t4 = time.perf_counter()
    pl.from_pandas(res).write_parquet(out)
    return {
        "seconds": t4 - t0,
        "read_s": t1 - t0,
        "times_s": t2 - t1,
        "sjoin_s": t3 - t2,
        "groupby_s": t4 - t3,
        "groups": len(res),
        "n_total": int(res["n"].sum()),
        "peak_mb": rss_mb(),
    }


STEPS = {
    "points_index": lambda a: step_points("index", a.points, a.seed),
    "points_ids": lambda a: step_points("ids", a.points, a.seed),
    "build_store": lambda a: step_build_store(a.root, a.incidents, a.seed),
    "load_zones": lambda a: step_load_zones(a.root),
    "bare_duckdb": lambda a: step_bare_duckdb(a.root, a.repeat, a.out),
    "query": lambda a: step_query(a.root, a.repeat, a.out),
    "profile": lambda a: step_profile(a.root, a.repeat),
    "bare_read": lambda a: step_bare_read(a.csv),
    "ours": lambda a: step_ours(a.csv, a.mapping, a.root, a.out),
    "pandas": lambda a: step_pandas(a.csv, a.out),
}
