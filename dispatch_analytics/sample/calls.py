"""Incidents and unit responses of the sample city, all drawn from one random generator.

The steps draw from the same ``numpy`` generator in a fixed order, so one seed always gives
the same city: :func:`_draw_incidents` (received times with the daylight-saving plants,
places, call types, priorities, call processing), then :func:`_assign_units` (which units
respond), then :func:`_stage_times` (the stage instants of every unit row, cancellations).
Changing the order or the size of any draw changes the files written for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from .constants import _TYPE_INDEX, _UNIT_TYPES, CALL_TYPES
from .geography import _Geography, _to_lonlat
from .zonetable import _Period, _ZoneTable

__all__ = ["_Incidents", "_UnitRows", "_Stages", "_draw_incidents", "_assign_units", "_stage_times"]

_BUSY_P = 0.15


@dataclass
class _Incidents:
    """One entry per incident, in order of receipt."""

    t0: np.ndarray  # received, UTC seconds
    kind: np.ndarray  # 0 random; 1 planted at 01:00-03:00 of a DST night; 2 read in the gap
    gap_off: np.ndarray  # for kind 2 the UTC offset before the jump, else 0
    dst_events: list[tuple[int, int, int]]  # (transition, offset before, after) in the period
    x: np.ndarray  # local metres
    y: np.ndarray
    lon: np.ndarray  # degrees, rounded to 6 decimals
    lat: np.ndarray
    first_due: np.ndarray  # station whose (written) first-due area contains the incident
    ctype: np.ndarray  # index into CALL_TYPES
    pri: np.ndarray  # priority 1..3
    category: np.ndarray  # 0 ems, 1 fire, 2 other
    proc: np.ndarray  # call-processing seconds
    dist: np.ndarray  # (n, S) straight-line metres to every station


@dataclass
class _UnitRows:
    """One entry per unit row (CSV data row before duplicates), by incident then slot."""

    inc: np.ndarray  # incident index
    slot: np.ndarray  # slot in the call type's response plan (0 = the primary unit)
    ukind: np.ndarray  # unit type, index into _UNIT_TYPES
    station: np.ndarray  # home station of the responding unit
    urank: np.ndarray  # rank of that unit type's next station before busy units are skipped


@dataclass
class _Stages:
    """Stage instants of every unit row."""

    times: dict[str, np.ndarray]  # time column -> rounded UTC seconds (NaN = absent)
    cancelled: np.ndarray  # bool: the unit was cancelled before arriving


# ====================================================================== incidents
def _draw_incidents(
    n: int, geo: _Geography, cells: np.ndarray, period: _Period, rng: np.random.Generator
) -> _Incidents:
    """Received times, places, call types, priorities and call processing of ``n`` incidents."""
    t0, kind, gap_off, dst_events = _receipt_times(n, period, rng)
    x, y, lon, lat, first_due = _sample_locations(n, geo, cells, rng)
    ctype, pri = _call_types(n, kind, rng)
    category = np.array([c.category for c in CALL_TYPES])[ctype]
    proc = np.clip(_lognormal(rng, 50.0, 0.45, n), 8.0, 900.0)
    S = geo.station_xy
    dist = np.hypot(x[:, None] - S[None, :, 0], y[:, None] - S[None, :, 1])
    return _Incidents(
        t0=t0,
        kind=kind,
        gap_off=gap_off,
        dst_events=dst_events,
        x=x,
        y=y,
        lon=lon,
        lat=lat,
        first_due=first_due,
        ctype=ctype,
        pri=pri,
        category=category,
        proc=proc,
        dist=dist,
    )


def _dst_plants(n: int, period: _Period, rng: np.random.Generator):
    """The DST nights of the period and the incidents planted in them.

    Clean incidents at local 01:00-03:00 of each night and (spring-forward only)
    incidents whose received time reads inside the gap. Returns the nights
    ``(transition, offset before, offset after)`` and per batch of plants their
    instants, kinds and gap offsets.
    """
    zt, t_start, t_end = period.zt, period.t_start, period.t_end
    k_dst = min(6, n // 50)
    n_gap = 2 if n >= 200 else 0
    dst_events = []  # (transition, offset before, offset after)
    planted_t, planted_kind, gap_offset = [], [], []
    for i, T in enumerate(zt.transitions):
        o1, o2 = int(zt.offsets[i]), int(zt.offsets[i + 1])
        if not (t_start <= T < t_end):
            continue
        dst_events.append((int(T), o1, o2))
        day0 = (int(T) + o1) // 86400 * 86400
        w_lo, w_hi = day0 + 3600 - o1, day0 + 3 * 3600 - o2  # local 01:00 .. 03:00
        if k_dst and t_start <= w_lo and w_hi <= t_end - 6 * 3600:
            edges = np.linspace(w_lo, w_hi - 300, k_dst + 1)
            planted_t.append(np.floor(rng.uniform(edges[:-1], edges[1:])).astype(np.int64))
            planted_kind.append(np.ones(k_dst, dtype=np.int64))
            gap_offset.append(np.zeros(k_dst, dtype=np.int64))
        if o2 > o1 and n_gap and t_start <= T and T + 6 * 3600 <= t_end:
            lo, hi = int(T), int(T) + (o2 - o1) - 15 * 60  # true time just after the jump
            planted_t.append(np.floor(rng.uniform(lo, hi, n_gap)).astype(np.int64))
            planted_kind.append(np.full(n_gap, 2, dtype=np.int64))
            gap_offset.append(np.full(n_gap, o1, dtype=np.int64))
    return dst_events, planted_t, planted_kind, gap_offset


def _receipt_times(n: int, period: _Period, rng: np.random.Generator):
    """Sorted received instants, their kinds and gap offsets, and the DST nights."""
    dst_events, planted_t, planted_kind, gap_offset = _dst_plants(n, period, rng)
    n_special = int(sum(len(p) for p in planted_t))
    if n_special > n // 10:  # never let planted incidents dominate a small sample
        planted_t, planted_kind, gap_offset, n_special = [], [], [], 0
    t_random = _incident_times(n - n_special, period.t_start, period.t_end, period.zt, rng)
    t0 = np.concatenate([t_random, *planted_t]).astype(np.int64)
    kind = np.concatenate([np.zeros(t_random.size, dtype=np.int64), *planted_kind])
    gap_off = np.concatenate([np.zeros(t_random.size, dtype=np.int64), *gap_offset])
    order = np.argsort(t0, kind="stable")
    return t0[order], kind[order], gap_off[order], dst_events


def _incident_times(n: int, t_start: int, t_end: int, zt: _ZoneTable, rng) -> np.ndarray:
    """UTC instants with a local daily cycle, a mild weekday effect and mild seasonality."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    bins = np.arange(t_start, t_end, 3600, dtype=np.int64)
    local = bins + zt.offset(bins)
    hour = (local // 3600) % 24
    day = local // 86400
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    daily = 1.0 + 0.45 * np.cos(2 * np.pi * (hour + 0.5 - 16.5) / 24.0)
    week = np.array([1.0, 0.97, 0.97, 0.99, 1.04, 1.08, 1.02])[weekday]
    season = 1.0 + 0.05 * np.cos(2 * np.pi * (day - 197) / 365.25)
    w = daily * week * season
    pick = rng.choice(bins.size, size=n, p=w / w.sum())
    t = bins[pick] + rng.integers(0, 3600, n)
    return np.minimum(t, t_end - 1)


def _lognormal(rng, median, sigma, size):
    return median * np.exp(rng.normal(0.0, sigma, size))


def _sample_locations(n: int, geo: _Geography, cells, rng: np.random.Generator):
    """Incident locations: metres, rounded lon/lat and the containing first-due cell."""
    tr = _to_lonlat()
    xs, ys, lons, lats, cell_of = [], [], [], [], []
    got = 0
    minx, miny, maxx, maxy = geo.boundary.bounds
    while got < n:
        m = int((n - got) * 1.25) + 16
        comp = rng.choice(geo.mix.size, size=m, p=geo.mix)
        x = rng.uniform(minx, maxx, m)
        y = rng.uniform(miny, maxy, m)
        hs = comp > 0
        h = geo.hotspots[comp[hs] - 1]
        x[hs] = h[:, 0] + rng.normal(0.0, 1.0, hs.sum()) * h[:, 2]
        y[hs] = h[:, 1] + rng.normal(0.0, 1.0, hs.sum()) * h[:, 2]
        lon, lat = tr.transform(x, y)
        lon, lat = np.round(lon, 6), np.round(lat, 6)
        cell = np.full(m, -1, dtype=np.int64)
        for s in range(len(cells) - 1, -1, -1):
            cell[shapely.contains_xy(cells[s], lon, lat)] = s
        ok = cell >= 0
        xs.append(x[ok])
        ys.append(y[ok])
        lons.append(lon[ok])
        lats.append(lat[ok])
        cell_of.append(cell[ok])
        got += int(ok.sum())
    cat = [np.concatenate(v)[:n] for v in (xs, ys, lons, lats, cell_of)]
    return tuple(cat)


def _call_types(n: int, kind: np.ndarray, rng: np.random.Generator):
    """Call type and priority of each incident; gap incidents are priority 2 medical calls."""
    shares = np.array([c.share for c in CALL_TYPES])
    ctype = rng.choice(len(CALL_TYPES), size=n, p=shares / shares.sum())
    cum_p = np.cumsum(np.array([c.priority_p for c in CALL_TYPES]), axis=1)[ctype]
    u = rng.random(n)
    pri = 1 + (u >= cum_p[:, 0]).astype(np.int64) + (u >= cum_p[:, 1])
    gap_inc = kind == 2
    ctype[gap_inc] = _TYPE_INDEX["Medical Emergency"]  # priority 2: a single medic
    pri[gap_inc] = 2
    return ctype, pri


# ====================================================================== unit rows
def _candidate_orders(incs: _Incidents, geo: _Geography):
    """Candidate stations per unit type and incident, nearest first, and how many there are.

    The first-due station always comes first, and for chiefs the own battalion's chief.
    """
    dist, first_due = incs.dist, incs.first_due
    ar = np.arange(dist.shape[0])
    key = dist.copy()
    key[ar, first_due] = -1.0
    cand_orders, cand_n = [], []
    for kind_u in range(4):
        if kind_u == 3:
            stations_u = geo.chief_station
            k_u = dist[:, stations_u].copy()
            k_u[ar, geo.battalion[first_due]] = -1.0
        else:
            stations_u = np.nonzero(geo.has_unit[kind_u])[0]
            k_u = key[:, stations_u]
        cand_orders.append(stations_u[np.argsort(k_u, axis=1, kind="stable")])
        cand_n.append(stations_u.size)
    return cand_orders, cand_n


def _assign_units(incs: _Incidents, geo: _Geography, rng: np.random.Generator) -> _UnitRows:
    """The units sent to each incident; a busy unit (~15 %) is replaced by the next station's."""
    cand_orders, cand_n = _candidate_orders(incs, geo)
    ctype, pri = incs.ctype, incs.pri
    prev_pick = np.full((ctype.size, 4), -1, dtype=np.int64)
    r_inc, r_slot, r_kind, r_station, r_rank = [], [], [], [], []
    for ti, ct in enumerate(CALL_TYPES):
        sel = np.nonzero(ctype == ti)[0]
        for j, (utype, rule) in enumerate(ct.slots):
            if rule == "p1":
                idx = sel[pri[sel] == 1]
            elif rule >= 1.0:
                idx = sel
            else:
                idx = sel[rng.random(sel.size) < rule]
            ku = _UNIT_TYPES.index(utype)
            skip = rng.geometric(1.0 - _BUSY_P, idx.size) - 1
            rank = prev_pick[idx, ku] + 1
            pick = np.minimum(rank + skip, cand_n[ku] - 1)
            prev_pick[idx, ku] = pick
            r_inc.append(idx)
            r_slot.append(np.full(idx.size, j, dtype=np.int64))
            r_kind.append(np.full(idx.size, ku, dtype=np.int64))
            r_station.append(cand_orders[ku][idx, pick])
            r_rank.append(rank)
    inc = np.concatenate(r_inc)
    slot = np.concatenate(r_slot)
    ukind = np.concatenate(r_kind)
    station = np.concatenate(r_station)
    urank = np.concatenate(r_rank)
    ro = np.lexsort((slot, inc))
    return _UnitRows(inc[ro], slot[ro], ukind[ro], station[ro], urank[ro])


# ====================================================================== stage times
def _stage_times(
    incs: _Incidents, rows: _UnitRows, zt: _ZoneTable, rng: np.random.Generator
) -> _Stages:
    """Stage instants of every unit row (rounded to seconds), cancellations applied."""
    t = _response_times(incs, rows, zt, rng)
    cancelled = _cancel(t, incs, rows, rng)
    times = {
        "T_RCVD": t["rcvd"],
        "T_DISP": t["disp"],
        "T_ENRT": t["enrt"],
        "T_ARRV": t["arrv"],
        "T_TRANS": t["trans"],
        "T_HOSP": t["hosp"],
        "T_CLR": t["clr"],
    }
    return _Stages(times={c: np.round(v) for c, v in times.items()}, cancelled=cancelled)


def _response_times(
    incs: _Incidents, rows: _UnitRows, zt: _ZoneTable, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Dispatch, turnout, travel, on-scene and hospital times of every unit row."""
    inc, slot, ukind = rows.inc, rows.slot, rows.ukind
    R = inc.size
    cat_r = incs.category[inc]
    primary = slot == 0
    rcvd = incs.t0[inc].astype(np.float64)
    extra = np.where(primary, 0.0, rng.exponential(15.0, R))
    extra = extra + np.where(ukind == 3, rng.uniform(30.0, 150.0, R), 0.0)
    disp = rcvd + incs.proc[inc] + extra
    hour_local = (zt.local(rcvd) // 3600) % 24
    turnout = _lognormal(rng, np.where(cat_r == 1, 75.0, 60.0), 0.35, R)
    turnout = np.clip(turnout + np.where(hour_local < 6, 20.0, 0.0), 10.0, 600.0)
    enrt = disp + turnout
    speed = rng.uniform(35.0, 50.0, R) / 3.6 * np.where(incs.pri[inc] == 3, 0.8, 1.0)
    road = incs.dist[inc, rows.station] * 1.3
    travel = np.maximum((20.0 + road / speed) * _lognormal(rng, 1.0, 0.12, R), 30.0)
    arrv = enrt + travel
    med_scene = np.array([c.on_scene_min for c in CALL_TYPES])[incs.ctype[inc]] * 60.0
    on_scene = _lognormal(rng, med_scene, 0.45, R) * np.where(primary, 1.0, 0.7)
    on_scene = np.maximum(on_scene, 60.0)
    collision = _TYPE_INDEX["Traffic Collision"]
    p_transport = np.where(cat_r == 0, 0.6, np.where(incs.ctype[inc] == collision, 0.35, 0.0))
    transport = (ukind == 1) & (rows.urank == 0) & (rng.random(R) < p_transport)
    trans = np.where(transport, arrv + 0.8 * on_scene, np.nan)
    hosp = trans + _lognormal(rng, 720.0, 0.35, R)
    clr = np.where(transport, hosp + _lognormal(rng, 1320.0, 0.4, R), arrv + on_scene)
    return {
        "rcvd": rcvd,
        "disp": disp,
        "turnout": turnout,
        "enrt": enrt,
        "travel": travel,
        "arrv": arrv,
        "trans": trans,
        "hosp": hosp,
        "clr": clr,
    }


def _cancel(
    t: dict[str, np.ndarray], incs: _Incidents, rows: _UnitRows, rng: np.random.Generator
) -> np.ndarray:
    """Cancel ~2 % of primary and ~10 % of other units (in place in ``t``); which ones."""
    R = rows.inc.size
    primary = rows.slot == 0
    cancelled = rng.random(R) < np.where(primary, 0.02, 0.10)
    cancelled &= ~(incs.kind == 2)[rows.inc]
    before_enrt = cancelled & (rng.random(R) < 0.3)
    cancel_at = np.where(
        before_enrt,
        t["disp"] + rng.uniform(0.1, 0.9, R) * t["turnout"],
        t["enrt"] + rng.uniform(0.15, 0.9, R) * t["travel"],
    )
    t["enrt"] = np.where(before_enrt, np.nan, t["enrt"])
    t["arrv"] = np.where(cancelled, np.nan, t["arrv"])
    t["trans"] = np.where(cancelled, np.nan, t["trans"])
    t["hosp"] = np.where(cancelled, np.nan, t["hosp"])
    t["clr"] = np.where(cancelled, cancel_at, t["clr"])
    return cancelled
