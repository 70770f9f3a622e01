"""The measured steps of ``bench/bench_metrics.py``, each run in a process of its own
(``bench_metrics.py --step NAME``), and the constants they share; see that script's docstring."""

from __future__ import annotations

import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
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
    from synth import make_store

    t = time.perf_counter()
    make_store(Path(root), n, seed=seed)
    return {"seconds": time.perf_counter() - t, "peak_mb": rss_mb()}


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


def step_query(root: str, materialise: bool, repeat: int) -> dict:
    from dispatch_analytics import Store
    from dispatch_analytics.metrics.fractiles import Fractiles
    from dispatch_analytics.metrics.queries import run_query

    store = Store(root, create=False)
    res: dict = {}
    if materialise:
        con = store.connect(read_only=False)  # in-memory database with the catalog views
        t = time.perf_counter()
        con.execute("create temp table incidents_mat as select * from incidents")
        con.execute("create or replace temp view incidents as select * from incidents_mat")
        res["materialise_s"] = time.perf_counter() - t
        res["incidents"] = con.execute("select count(*) from incidents").fetchone()[0]
    else:
        con = store.connect()  # read-only catalog
    before = rss_mb("VmRSS")
    first, best, df = _timed(
        lambda: run_query(con, "fractile_compliance", dict(QUERY_PARAMS)), repeat
    )
    res.update(query_first_s=first, query_best_s=best, groups=df.height, n_total=int(df["n"].sum()))
    first, best, f = _timed(lambda: Fractiles.from_store(con, **FRACTILES_KW), repeat)
    res.update(
        fractiles_first_s=first,
        fractiles_best_s=best,
        fractiles_groups=f.table.height,
        inputs_mb=before,
        peak_mb=rss_mb(),
    )
    if materialise:  # where the query's time goes, over the materialised table

        def secs(sql: str) -> float:
            t = time.perf_counter()
            con.execute(sql).fetchall()
            return time.perf_counter() - t

        month = "cast(date_trunc('month', {}) as date)"
        res["local_month_stored_s"] = secs(
            f"select count(distinct {month.format('call_received_local_at')}) from incidents"
        )
        res["local_month_row_tz_s"] = secs(
            f"select count(distinct {month.format('call_received_at at time zone timezone')}) "
            "from incidents"
        )
        res["ci_ranks_s"] = secs(
            "select count(*) from da_os_ci_ranks((select list({'n': n, 'pct': 90.0}) from "
            f"(select count(*) as n from incidents i left join incident_zones z on "
            f"z.incident_id = i.incident_id and z.layer = '{LAYER}' "
            "group by z.zone_id, date_trunc('month', i.call_received_at))))"
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
    df = pd.read_csv(csv)
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
    ok = df[df["month"].notna()]
    g = ok.groupby(["zone_id", "month"], dropna=False)["total_response_s"]
    res = g.agg(["count", "mean", nearest_rank(50), nearest_rank(90), nearest_rank(95)])
    res["compliance"] = g.apply(lambda s: float((s.dropna() <= 480).mean()))
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
    "query": lambda a: step_query(a.root, False, a.repeat),
    "query_mat": lambda a: step_query(a.root, True, a.repeat),
    "bare_read": lambda a: step_bare_read(a.csv),
    "ours": lambda a: step_ours(a.csv, a.mapping, a.root, a.out),
    "pandas": lambda a: step_pandas(a.csv, a.out),
}
