"""Hypothesis properties: order, duplication and batching never change what is accepted."""

import random
import tempfile
from pathlib import Path

import pytest
from conftest import UNIT_HEADER, UNIT_TOML, unit_row, write_csv, write_toml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch_analytics import Store, ingest, load_profile

MUTATIONS = {
    "clean": {},
    "missing_id": {"inc": ""},
    "bad_time": {"disp": "not a time"},
    "gap_time": {
        "rcvd": "03/10/2024 02:30:00",
        "disp": "03/10/2024 03:31:00",
        "enrt": "03/10/2024 03:32:00",
        "arrv": "03/10/2024 03:40:00",
        "clr": "03/10/2024 04:00:00",
    },
    "order": {"enrt": "01/15/2024 10:00:10"},
    "zero": {"lat": "0", "lon": "0"},
    "no_arrival": {"arrv": ""},
    "fall_back": {
        "rcvd": "11/03/2024 01:50:00",
        "disp": "11/03/2024 01:05:00",
        "enrt": "11/03/2024 01:06:00",
        "arrv": "11/03/2024 01:12:00",
        "clr": "11/03/2024 02:30:00",
    },
}

row_spec = st.tuples(
    st.sampled_from(sorted(MUTATIONS)), st.sampled_from(["M1", "E1", "T1"]), st.integers(0, 59)
)


def _rows(specs):
    rows = []
    for i, (mut, unit, sec) in enumerate(specs):
        kw = {"inc": f"I{i}", "unit": unit, "disp": f"01/15/2024 10:01:{sec:02d}"}
        kw.update(MUTATIONS[mut])
        rows.append(unit_row(**kw))
    return rows


COMPARE = (
    "select * exclude (source, batch_id, source_row, turnout_s, travel_s, response_s) "
    "from responses order by incident_id, unit_id"
)


def _accepted(batches):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        toml = write_toml(d / "m.toml", UNIT_TOML)
        files = [write_csv(d / f"part{i}.csv", UNIT_HEADER, rows) for i, rows in enumerate(batches)]
        totals = [0, 0, 0]
        for f, rows in zip(files, batches, strict=True):  # one ingest per file: separate batches
            r = ingest(f, load_profile(toml), data_dir=d / "store", h3_resolution=None)
            assert r.rows_read == r.rows_accepted + r.rows_rejected
            assert r.rows_rejected == sum(r.rejects_by_reason.values())
            if r.files[0].skipped:  # a part byte-identical to an earlier part adds nothing
                assert r.rows_read == 0
                r_read = len(rows)
            else:
                r_read = r.rows_read
            totals = [totals[0] + r_read, totals[1] + r.rows_accepted, totals[2] + r.rows_rejected]
        store = Store(d / "store")
        counts = store.sql(
            "select (select count(*) from responses_all), (select count(*) from rejects)"
        ).row(0)
        assert counts == (totals[1], totals[2])
        assert totals[0] >= totals[1] + totals[2]  # skipped identical parts count as read
        return store.sql(COMPARE), totals


settings_ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.mark.slow  # ~60 s: many ingests per example
@settings_
@given(st.lists(row_spec, min_size=1, max_size=25), st.randoms(use_true_random=False))
def test_shuffling_does_not_change_accepted(specs, rnd):
    rows = _rows(specs)
    base, totals = _accepted([rows])
    assert totals[0] == len(rows)
    shuffled = rows[:]
    rnd.shuffle(shuffled)
    again, _ = _accepted([shuffled])
    assert base.equals(again)


@pytest.mark.slow  # ~70 s: many ingests per example
@settings_
@given(st.lists(row_spec, min_size=1, max_size=20), st.randoms(use_true_random=False))
def test_duplicating_rows_does_not_change_accepted(specs, rnd):
    rows = _rows(specs)
    base, _ = _accepted([rows])
    doubled = rows + [r for r in rows if rnd.random() < 0.7]
    rnd.shuffle(doubled)
    again, totals = _accepted([doubled])
    assert base.equals(again)
    assert totals[0] == len(doubled)


@pytest.mark.slow  # ~70 s: many ingests per example
@settings_
@given(
    st.lists(row_spec, min_size=2, max_size=25),
    st.integers(2, 4),
    st.randoms(use_true_random=False),
)
def test_splitting_into_batches_does_not_change_accepted(specs, k, rnd):
    rows = _rows(specs)
    base, totals = _accepted([rows])
    cuts = sorted(rnd.sample(range(1, len(rows)), min(k - 1, len(rows) - 1)))
    parts = [rows[a:b] for a, b in zip([0, *cuts], [*cuts, len(rows)], strict=True)]
    # a repeated row across parts, too
    parts[-1] = parts[-1] + [rows[0]]
    again, totals2 = _accepted(parts)
    assert base.equals(again)
    assert totals2[0] == len(rows) + 1


def test_mutations_map_to_expected_reasons(tmp_path):
    rows = _rows([(m, "M1", 0) for m in sorted(MUTATIONS)])
    toml = write_toml(tmp_path / "m.toml", UNIT_TOML)
    r = ingest(
        write_csv(tmp_path / "x.csv", UNIT_HEADER, rows),
        load_profile(toml),
        data_dir=tmp_path / "s",
    )
    # per-interval exclusion: a bad dispatch time, a stage out of order are flagged stages of
    # accepted rows; the call-received time in a spring-forward gap makes the row unusable
    assert r.rejects_by_reason == {"missing_id": 1, "nonexistent_local_time": 1}
    assert r.rows_accepted == 6
    assert r.files[0].unlocated_by_reason == {"zero_coordinates": 1}
    flags = Store(tmp_path / "s").sql(
        "select stage_flags from responses where stage_flags is not null order by 1"
    )["stage_flags"]
    assert flags.to_list() == ["dispatched_at:unparseable_time", "enroute_at:stage_order"]
    random.seed(0)
