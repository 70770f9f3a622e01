"""Writes the fixed 'town' files of this folder (run once; the tests read the files).

Five 1 km x 1 km square zones Z1..Z5 in a row (west to east) at about 40 N, 100 W; stations
S1..S3 at the centres of Z1..Z3; units E1..E3 at S1..S3, M9 at an unknown station S9.
Calls, one unit each, first-arriving unit = that unit, travel_s chosen per zone:
Z1 60 calls 60..200 s (meeting 240), Z2 40 calls 60..270 s (at risk), Z3 50 calls
300..600 s (failing), Z4 1 call 100 s, Z5 none.
"""

import csv
import json
from datetime import datetime, timedelta

import numpy as np

LAT0, LON0 = 40.0, -100.0
DLAT, DLON = 1 / 111.2, 1 / (111.2 * np.cos(np.radians(LAT0)))  # 1 km in degrees


def square(k):
    x0 = LON0 + k * DLON
    return [[x0, LAT0], [x0 + DLON, LAT0], [x0 + DLON, LAT0 + DLAT], [x0, LAT0 + DLAT], [x0, LAT0]]


feats = [
    {
        "type": "Feature",
        "properties": {"zone": f"Z{k + 1}", "label": f"Zone {k + 1}"},
        "geometry": {"type": "Polygon", "coordinates": [square(k)]},
    }
    for k in range(5)
]
json.dump(
    {"type": "FeatureCollection", "features": feats}, open("town_zones.geojson", "w"), indent=1
)
with open("town_stations.csv", "w", newline="") as fh:
    w = csv.writer(fh)
    w.writerow(["station_id", "name", "latitude", "longitude"])
    for k in range(3):
        w.writerow(
            [
                f"S{k + 1}",
                f"Station {k + 1}",
                round(LAT0 + DLAT / 2, 7),
                round(LON0 + (k + 0.5) * DLON, 7),
            ]
        )
with open("town_units.csv", "w", newline="") as fh:
    w = csv.writer(fh)
    w.writerow(["unit_id", "station_id", "unit_type", "staffing"])
    w.writerows(
        [
            ["E1", "S1", "ENGINE", 4],
            ["E2", "S2", "ENGINE", 4],
            ["E3", "S3", "ENGINE", 3],
            ["M9", "S9", "MEDIC", 2],
        ]
    )
rng = np.random.default_rng(7)
plan = [
    (0, 60, 60, 200, "E1"),
    (1, 40, 60, 270, "E2"),
    (2, 50, 300, 600, "E3"),
    (3, 1, 100, 100, "E3"),
]
t0 = datetime(2024, 3, 1, 0, 0, 0)
rows, n = [], 0
for k, count, lo, hi, unit in plan:
    travel = np.round(np.linspace(lo, hi, count)).astype(int)
    rng.shuffle(travel)
    for t in travel:
        n += 1
        rcvd = t0 + timedelta(minutes=37 * n)
        lat = LAT0 + DLAT * rng.uniform(0.1, 0.9)
        lon = LON0 + DLON * (k + rng.uniform(0.1, 0.9))
        disp, enrt = rcvd + timedelta(seconds=50), rcvd + timedelta(seconds=110)
        arr = enrt + timedelta(seconds=int(t))
        f = "%Y-%m-%d %H:%M:%S"
        rows.append(
            [
                f"I{n:04d}",
                unit,
                "Medical",
                rcvd.strftime(f),
                disp.strftime(f),
                enrt.strftime(f),
                arr.strftime(f),
                f"{lat:.6f}",
                f"{lon:.6f}",
            ]
        )
with open("town_calls.csv", "w", newline="") as fh:
    w = csv.writer(fh)
    w.writerow(["inc", "unit", "type", "rcvd", "disp", "enrt", "arrv", "lat", "lon"])
    w.writerows(rows)
