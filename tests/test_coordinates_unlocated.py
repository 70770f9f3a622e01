"""Coordinates (issue 11.7): any CRS PROJ knows; blank or (0, 0) coordinates keep their row as
unlocated (flagged, counted, listed) unless require_coordinates = true."""

from __future__ import annotations

import pytest
from conftest import UNIT_HEADER, UNIT_TOML, unit_row, write_csv, write_toml
from pyproj import Transformer

from dispatch_analytics import ProfileError, Store, ingest, load_profile
from dispatch_analytics.ingest.profiles import parse_profile

BASE = {
    "source": {"timezone": "UTC"},
    "columns": {
        "incident_id": "A",
        "unit_id": "B",
        "call_received_at": "C",
        "latitude": "Y",
        "longitude": "X",
    },
}


@pytest.mark.parametrize(
    "crs",
    ["ESRI:102643", "esri:102643", "EPSG:2227", "IGNF:LAMB93", "+proj=utm +zone=10 +datum=WGS84"],
)
def test_any_crs_proj_knows(crs):
    prof = parse_profile({**BASE, "source": {"timezone": "UTC", "crs": crs}})
    assert not prof.is_geographic


def test_unknown_crs_is_an_error_with_the_fix():
    with pytest.raises(ProfileError, match=r"`crs` 'ESRI:999999' is not known to PROJ; give an"):
        parse_profile({**BASE, "source": {"timezone": "UTC", "crs": "ESRI:999999"}})


def test_state_plane_feet_in_a_csv(tmp_path):
    """US survey feet (ESRI:102643): the points land where pyproj puts them."""
    to_ft = Transformer.from_crs("EPSG:4326", "ESRI:102643", always_xy=True)
    pts = [(37.7793, -122.4193), (37.7347, -122.4586)]
    rows = []
    for i, (lat, lon) in enumerate(pts):
        x, y = to_ft.transform(lon, lat)
        rows.append(unit_row(inc=f"P{i}", lat=f"{y:.3f}", lon=f"{x:.3f}"))
    toml = write_toml(
        tmp_path / "sp.toml", UNIT_TOML.replace('crs = "EPSG:4326"', 'crs = "ESRI:102643"')
    )
    ingest(
        write_csv(tmp_path / "x.csv", UNIT_HEADER, rows),
        load_profile(toml),
        data_dir=tmp_path / "s",
    )
    got = (
        Store(tmp_path / "s")
        .sql("select latitude, longitude from responses order by incident_id")
        .rows()
    )
    for (lat, lon), (elat, elon) in zip(got, pts, strict=True):
        assert lat == pytest.approx(elat, abs=1e-6) and lon == pytest.approx(elon, abs=1e-6)


def test_blank_and_zero_coordinates_are_unlocated(tmp_path, unit_toml):
    rows = [
        unit_row(inc="A"),
        unit_row(inc="B", lat="", lon=""),
        unit_row(inc="C", lat="0", lon="0"),
        unit_row(inc="D", lat="forty", lon="-74"),
    ]
    report = ingest(
        write_csv(tmp_path / "x.csv", UNIT_HEADER, rows),
        load_profile(unit_toml),
        data_dir=tmp_path / "s",
    )
    assert report.rows_accepted == 4 and report.rows_rejected == 0
    assert report.files[0].unlocated_by_reason == {
        "missing_coordinates": 1,
        "zero_coordinates": 1,
        "unparseable_coordinates": 1,
    }
    store = Store(tmp_path / "s")
    got = store.sql(
        "select incident_id, latitude, location_flag, travel_s from responses order by 1"
    ).rows()
    assert got[0] == ("A", 40.71, None, 300.0)
    assert got[1] == ("B", None, "missing_coordinates", 300.0)  # its times are kept
    assert got[2] == ("C", None, "zero_coordinates", 300.0)
    assert got[3][2] == "unparseable_coordinates"


def test_unlocated_incidents_are_listed_by_zones_outside(tmp_path, unit_toml, capsys):
    import json

    from dispatch_analytics.cli import main

    rows = [unit_row(inc="A"), unit_row(inc="F", lat="41.5"), unit_row(inc="C", lat="0", lon="0")]
    d = str(tmp_path / "s")
    ingest(write_csv(tmp_path / "x.csv", UNIT_HEADER, rows), load_profile(unit_toml), data_dir=d)
    square = [[-74.1, 40.6], [-73.9, 40.6], [-73.9, 40.8], [-74.1, 40.8], [-74.1, 40.6]]
    zones = tmp_path / "z.geojson"
    zones.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"zone": "Z1"},
                        "geometry": {"type": "Polygon", "coordinates": [square]},
                    }
                ],
            }
        )
    )
    assert (
        main(
            ["zones", "load", str(zones), "--layer", "tiny", "--id-field", "zone", "--data-dir", d]
        )
        == 0
    )
    capsys.readouterr()
    args = ["zones", "outside", "--layer", "tiny", "--data-dir", d, "--format", "json"]
    assert main(args) == 0
    assert [r["incident_id"] for r in json.loads(capsys.readouterr().out)] == ["F"]
    assert main([*args, "--include-unlocated"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["incident_id"] for r in listed] == ["C", "F"]


def test_require_coordinates_rejects(tmp_path):
    toml = write_toml(tmp_path / "r.toml", UNIT_TOML + "require_coordinates = true\n")
    rows = [unit_row(inc="A"), unit_row(inc="C", lat="0", lon="0")]
    report = ingest(
        write_csv(tmp_path / "x.csv", UNIT_HEADER, rows),
        load_profile(toml),
        data_dir=tmp_path / "s",
    )
    assert report.rejects_by_reason == {"zero_coordinates": 1}
