"""Each built-in profile on a real slice or a fixture, checked against pandas by hand."""

import numpy as np
import pandas as pd
import pytest
from conftest import SF_SLICE, write_csv, write_toml
from pyproj import Transformer

from dispatch_analytics import Store, ingest, load_profile

SF_FMT = "%m/%d/%Y %I:%M:%S %p"
SF_TIMES = [
    "Received DtTm",
    "Entry DtTm",
    "Dispatch DtTm",
    "Response DtTm",
    "On Scene DtTm",
    "Transport DtTm",
    "Hospital DtTm",
    "Available DtTm",
]


ORDER = [
    "Received DtTm",
    "Entry DtTm",
    "Dispatch DtTm",
    "Response DtTm",
    "On Scene DtTm",
    "Transport DtTm",
    "Hospital DtTm",
    "Available DtTm",
]
CANON = {
    "Received DtTm": "call_received_at",
    "Entry DtTm": "call_entered_at",
    "Dispatch DtTm": "dispatched_at",
    "Response DtTm": "enroute_at",
    "On Scene DtTm": "on_scene_at",
    "Transport DtTm": "transport_at",
    "Hospital DtTm": "at_hospital_at",
    "Available DtTm": "cleared_at",
}


def _brute_force_keep(values):
    """Brute force over every subset: the largest in-order one keeping index 0 (received);
    ties: the lexicographically smallest indices (the earlier stages kept)."""
    import itertools

    n = len(values)
    for size in range(n, 0, -1):
        for combo in itertools.combinations(range(n), size):  # lexicographic order
            if 0 in combo and all(values[a] <= values[b] for a, b in itertools.pairwise(combo)):
                return set(combo)
    return {0}


def _sf_by_hand():
    """Parse the SF slice with pandas alone and apply the documented rules: a row with a stage
    out of order keeps the largest in-order set of its stages (received always kept), the
    others are excluded (NULL) and flagged."""
    df = pd.read_csv(SF_SLICE, dtype=str, keep_default_na=False)
    df["row"] = np.arange(1, len(df) + 1)
    for c in SF_TIMES:
        s = pd.to_datetime(df[c].replace("", None), format=SF_FMT)
        df[c] = s.dt.tz_localize("America/Los_Angeles").dt.tz_convert("UTC")
    bad = np.zeros(len(df), bool)
    for i, c in enumerate(ORDER[1:], start=1):
        prev = df[ORDER[:i]].max(axis=1)
        bad |= (df[c] < prev).fillna(False).to_numpy()
    flags = {}
    for i in np.flatnonzero(bad):
        present = [c for c in ORDER if pd.notna(df.at[i, c])]
        keep = _brute_force_keep([df.at[i, c] for c in present])
        out = [c for k, c in enumerate(present) if k not in keep]
        flags[int(df.at[i, "row"])] = ";".join(f"{CANON[c]}:stage_order" for c in out)
        for c in out:
            df.at[i, c] = pd.NaT
    return df, bad, flags


def test_sffd_slice_counts_and_flags(data_dir):
    """Every row is kept: the 28 with a stage out of order are flagged, and the stage that
    breaks the order (and only it) is excluded."""
    report = ingest(SF_SLICE, load_profile("sffd"), data_dir=data_dir)
    df, bad, flags = _sf_by_hand()
    f = report.files[0]
    assert f.rows_read == len(df) == f.rows_accepted
    assert f.rows_rejected == 0 and bad.sum() == 28
    store = Store(data_dir)
    got = store.sql(
        "select source_row, stage_flags, stage_raw from responses_all "
        "where stage_flags is not null order by source_row"
    )
    assert dict(zip(got["source_row"], got["stage_flags"], strict=True)) == flags
    assert all(v.startswith("{") for v in got["stage_raw"])


def test_sffd_slice_strict_rejects(tmp_path, data_dir):
    """on_stage_error = "reject" keeps the strict behaviour: the 28 rows are rejected."""
    text = (
        SF_SLICE.parents[2] / "dispatch_analytics/ingest/builtin_profiles/sffd.toml"
    ).read_text()
    toml = write_toml(tmp_path / "sf.toml", text + '\n[validation]\non_stage_error = "reject"\n')
    report = ingest(SF_SLICE, load_profile(toml), data_dir=data_dir)
    df, bad, _ = _sf_by_hand()
    assert report.files[0].rows_rejected == bad.sum() == 28
    rej = Store(data_dir).sql("select source_row, reason, field, detail from rejects order by 1")
    assert rej["source_row"].to_list() == df.loc[bad, "row"].tolist()
    assert set(rej["reason"]) == {"stage_order"}
    one = rej.filter(rej["field"] == "on_scene_at")
    assert one.height == 1 and "is before `enroute_at`" in one["detail"][0]


def test_sffd_incident_metrics_match_pandas(data_dir):
    ingest(SF_SLICE, load_profile("sffd"), data_dir=data_dir)
    df, _, _ = _sf_by_hand()
    ok = df
    g = ok.groupby("Incident Number")
    exp = pd.DataFrame(
        {
            "received": g["Received DtTm"].min(),
            "first_disp": g["Dispatch DtTm"].min(),
            "first_scene": g["On Scene DtTm"].min(),
        }
    )
    exp["call_processing_s"] = (exp.first_disp - exp.received).dt.total_seconds()
    exp["total_response_s"] = (exp.first_scene - exp.received).dt.total_seconds()
    arrived = ok.dropna(subset=["On Scene DtTm"]).sort_values(
        ["On Scene DtTm", "Dispatch DtTm", "Unit ID"]
    )
    fa = arrived.groupby("Incident Number").first()
    exp["first_arriving_unit"] = fa["Unit ID"]
    exp["turnout_s"] = (fa["Response DtTm"] - fa["Dispatch DtTm"]).dt.total_seconds()
    exp["travel_s"] = (fa["On Scene DtTm"] - fa["Response DtTm"]).dt.total_seconds()
    got = Store(data_dir).sql("select * from incidents").to_pandas().set_index("incident_id")
    assert len(got) == len(exp)
    got = got.loc[exp.index]
    for col in ("call_processing_s", "total_response_s", "turnout_s", "travel_s"):
        np.testing.assert_allclose(got[col].astype(float), exp[col].astype(float), equal_nan=True)
    assert (got["first_arriving_unit"].fillna("") == exp["first_arriving_unit"].fillna("")).all()
    assert set(got["call_category"]) <= {"ems", "fire", "other"}


def test_sffd_location_text_column(data_dir):
    ingest(SF_SLICE, load_profile("sffd"), data_dir=data_dir)
    row = (
        Store(data_dir)
        .sql("select latitude, longitude from responses where incident_id = '16146990'")
        .row(0)
    )
    assert row == pytest.approx((37.745858648581, -122.456664252061))


NYC_HEADER = [
    "CAD_INCIDENT_ID",
    "INCIDENT_DATETIME",
    "INITIAL_CALL_TYPE",
    "INITIAL_SEVERITY_LEVEL_CODE",
    "FINAL_CALL_TYPE",
    "FIRST_ASSIGNMENT_DATETIME",
    "FIRST_ACTIVATION_DATETIME",
    "FIRST_ON_SCENE_DATETIME",
    "FIRST_TO_HOSP_DATETIME",
    "FIRST_HOSP_ARRIVAL_DATETIME",
    "INCIDENT_CLOSE_DATETIME",
    "BOROUGH",
    "INCIDENT_DISPATCH_AREA",
    "ZIPCODE",
]


def test_nyc_ems_incident_grain(tmp_path, data_dir):
    rows = [
        [
            "170010001",
            "01/01/2017 12:00:05 AM",
            "SICK",
            "6",
            "SICK",
            "01/01/2017 12:01:10 AM",
            "01/01/2017 12:01:40 AM",
            "01/01/2017 12:09:05 AM",
            "",
            "",
            "01/01/2017 01:00:00 AM",
            "BRONX",
            "B1",
            "10451",
        ],
        # NYC's 2 am on the spring-forward night: 01:58 EST -> 03:01 EDT is 3 minutes
        [
            "170690002",
            "03/12/2017 01:58:00 AM",
            "CARD",
            "2",
            "CARD",
            "03/12/2017 03:00:00 AM",
            "03/12/2017 03:00:30 AM",
            "03/12/2017 03:01:00 AM",
            "03/12/2017 03:20:00 AM",
            "03/12/2017 03:30:00 AM",
            "03/12/2017 04:00:00 AM",
            "QUEENS",
            "Q2",
            "11368",
        ],
        [
            "",
            "01/01/2017 12:00:05 AM",
            "SICK",
            "6",
            "SICK",
            "",
            "",
            "",
            "",
            "",
            "",
            "BRONX",
            "B1",
            "10451",
        ],
    ]
    path = write_csv(tmp_path / "nyc.csv", NYC_HEADER, rows)
    report = ingest(path, load_profile("nyc_ems"), data_dir=data_dir)
    assert (report.rows_read, report.rows_accepted, report.rows_rejected) == (3, 2, 1)
    assert report.rejects_by_reason == {"missing_id": 1}
    inc = Store(data_dir).sql("select * from incidents order by incident_id").to_dicts()
    assert inc[0]["call_processing_s"] == 65.0
    assert inc[0]["total_response_s"] == 540.0
    assert inc[0]["call_category"] == "ems"
    assert inc[0]["latitude"] is None
    assert inc[1]["total_response_s"] == 180.0
    assert inc[1]["travel_s"] == 30.0


NEMSIS_HEADER = [
    "eResponse.03",
    "eResponse.13",
    "eResponse.07",
    "eDispatch.01",
    "eResponse.23",
    "eScene.19",
    "eScene.11",
    "eTimes.01",
    "eTimes.03",
    "eTimes.04",
    "eTimes.05",
    "eTimes.06",
    "eTimes.07",
    "eTimes.09",
    "eTimes.11",
    "eTimes.12",
    "eTimes.13",
]


def test_nemsis_offsets(tmp_path, data_dir):
    rows = [
        [
            "INC-1",
            "M12",
            "2205001",
            "2301051",
            "2223001",
            "21201",
            "39.2904,-76.6122",
            "2019-05-03T05:07:00-04:00",
            "2019-05-03T05:08:00-04:00",
            "",
            "2019-05-03T05:09:00-04:00",
            "2019-05-03T05:15:30-04:00",
            "2019-05-03T05:16:00-04:00",
            "2019-05-03T05:40:00-04:00",
            "2019-05-03T05:55:00-04:00",
            "2019-05-03T06:05:00-04:00",
            "2019-05-03T06:30:00-04:00",
        ],
        # a local time without offset is read in the profile's zone (America/New_York)
        [
            "INC-2",
            "M14",
            "2205001",
            "2301051",
            "2223001",
            "21201",
            "",
            "2019-05-03T05:07:00",
            "2019-05-03T05:08:00",
            "",
            "2019-05-03T05:09:00",
            "2019-05-03T05:15:00",
            "",
            "",
            "",
            "",
            "2019-05-03T05:45:00",
        ],
    ]
    path = write_csv(tmp_path / "nemsis.csv", NEMSIS_HEADER, rows)
    report = ingest(path, load_profile("nemsis"), data_dir=data_dir)
    assert report.rows_accepted == 2, report.rejects_by_reason
    r = Store(data_dir).sql("select * from responses order by incident_id").to_dicts()
    assert r[0]["call_received_at"].isoformat() == "2019-05-03T09:07:00+00:00"
    assert r[0]["call_arrived_at"] == r[0]["call_received_at"]
    assert r[1]["call_received_at"].isoformat() == "2019-05-03T09:07:00+00:00"
    assert r[0]["latitude"] == pytest.approx(39.2904)
    assert r[0]["turnout_s"] == 60 and r[0]["travel_s"] == 390


def test_incident_grain_minutes_web_mercator(tmp_path, data_dir):
    """An unseen incident-grain export: minute times without zero padding, EPSG:3857."""
    tr = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    x, y = tr.transform(-77.0365, 38.8977)
    header = ["IncNum", "Type", "Opened", "FirstDisp", "FirstEnr", "FirstArr", "X", "Y"]
    rows = [
        [
            "19-1",
            "FIRE ALARM",
            "5/3/2019 5:07",
            "5/3/2019 5:08",
            "5/3/2019 5:09",
            "5/3/2019 5:14",
            f"{x:.2f}",
            f"{y:.2f}",
        ],
        [
            "19-2",
            "EMS",
            "11/3/2019 1:58",
            "11/3/2019 1:02",
            "11/3/2019 1:03",
            "11/3/2019 1:09",
            f"{x + 500:.2f}",
            f"{y - 300:.2f}",
        ],
        [
            "19-3",
            "EMS",
            "5/3/2019 9:00",
            "5/3/2019 9:01",
            "5/3/2019 9:02",
            "5/3/2019 9:05",
            "0",
            "0",
        ],
    ]
    path = write_csv(tmp_path / "inc.csv", header, rows)
    toml = write_toml(
        tmp_path / "inc.toml",
        """
        [source]
        grain = "incident"
        timezone = "America/New_York"
        timestamp_format = "%m/%d/%Y %H:%M"
        crs = "EPSG:3857"
        [columns]
        incident_id = "IncNum"
        call_type = "Type"
        call_received_at = "Opened"
        dispatched_at = "FirstDisp"
        enroute_at = "FirstEnr"
        on_scene_at = "FirstArr"
        longitude = "X"
        latitude = "Y"
        [categories]
        fire = ["*FIRE*"]
        ems = ["EMS"]
    """,
    )
    report = ingest(path, load_profile(toml), data_dir=data_dir)
    # the (0, 0) placeholder keeps its times as an unlocated incident
    assert (report.rows_accepted, report.rows_rejected) == (3, 0)
    assert report.files[0].unlocated_by_reason == {"zero_coordinates": 1}
    inc = Store(data_dir).sql("select * from incidents order by incident_id").to_dicts()
    assert inc[2]["latitude"] is None and inc[2]["total_response_s"] == 300
    assert inc[0]["longitude"] == pytest.approx(-77.0365, abs=1e-6)
    assert inc[0]["latitude"] == pytest.approx(38.8977, abs=1e-6)
    assert inc[0]["call_processing_s"] == 60 and inc[0]["total_response_s"] == 420
    assert inc[0]["call_category"] == "fire"
    # fall-back night: received 01:58 EDT, dispatched 01:02 EST -> 4 minutes
    assert inc[1]["call_processing_s"] == 240
    assert inc[1]["total_response_s"] == 660
    assert inc[1]["time_flags"] == "dst_resolved"
