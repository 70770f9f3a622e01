"""The shared results cache (dash_app/results_cache.py): the same frames as a direct
computation, never an old version's result, one computation for many threads and
processes, and a corrupt or partial file recomputed rather than served."""

from __future__ import annotations

import math
import multiprocessing as mp
import queue
import shutil
import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from conftest import SF_SLICE, copy_store
from polars.testing import assert_frame_equal

from dash_app import stats, stats_map, views
from dash_app.data import DataSource
from dash_app.filters import Filters
from dash_app.results_cache import ResultsCache, decode, encode, results_root

TARGETS = {"call_processing": (60.0, 90.0), "turnout": ((("ems", 60.0), (None, 80.0)), 90.0)}
TARGETS |= {"travel": (240.0, 80.0), "total_response": (None, 90.0)}
LAYER = "neighborhoods"
FILTERS = [
    Filters(layer=LAYER),
    Filters(layer=LAYER, categories=("ems",)),
    Filters(layer=LAYER, call_types=("no such type",)),  # no incident
    Filters(layer=LAYER, date_from=date(2017, 1, 3), date_to=date(2017, 1, 3)),
]


@pytest.fixture(scope="module")
def base(sf_week_store, tmp_path_factory):
    return copy_store(sf_week_store, tmp_path_factory.mktemp("dash_cache") / "store")


@pytest.fixture
def store(base, tmp_path):
    """A private copy (its own cache folder) of the SF week store."""
    dest = copy_store(base, tmp_path / "store")
    shutil.rmtree(dest / "cache" / "dashboard", ignore_errors=True)
    return dest


def _equal(a, b) -> None:
    """Deep equality of results: frames by value and dtype, floats NaN-aware."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, pl.DataFrame):
        assert_frame_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _equal(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _equal(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


def _calls(f: Filters):
    """(name, cached function, direct computation, arguments) of every shared result."""
    t = TARGETS["turnout"][0]
    return [
        ("overview", stats.overview_stats, (f, TARGETS, "week")),
        ("trends", stats.trends, (f, TARGETS, "month")),
        ("heatmap", stats.heatmap, (f,)),
        ("volume", stats.volume_by_category, (f, "week")),
        ("zones", stats.zone_stats, (f, LAYER, "travel", 240.0, 90)),
        ("breakdown", stats.zone_breakdown, (f, LAYER, "Mission", {"travel": 240.0})),
        ("turnout", stats.unit_turnout, (f, t, 90.0)),
        ("workload", stats.unit_workload, (f,)),
        ("first_due", stats.first_due_reliability, (f, LAYER)),
        ("hex_bounds", stats_map.hex_bounds, (f,)),
        ("hex", stats_map.hex_stats, (f, "travel", 240.0)),
        ("choices", stats.filter_choices, (f.agency,)),
        ("status", views._status_counts, (f,)),
    ]


def _direct(fn, snap, args):
    """The computation without any cache: the undecorated function (the public wrappers
    of overview / trends / turnout / first-due call a decorated helper)."""
    inner = {
        stats.overview_stats: lambda: stats._overview_stats(snap, *args),
        stats.trends: lambda: stats._trends_shared.uncached(
            snap, args[0], tuple(sorted(args[1].items())), args[2]
        ),
        stats.unit_turnout: lambda: stats._unit_turnout.uncached(snap, *args, 40),
        stats.first_due_reliability: lambda: stats._first_due_reliability.uncached(snap, *args),
    }.get(fn)
    return inner() if inner else fn.uncached(snap, *args)


@pytest.mark.parametrize(
    "f",
    [  # every filter but "all" is slow: about 2 s each, every callback computed twice
        pytest.param(f, id=name, marks=() if name == "all" else pytest.mark.slow)
        for f, name in zip(FILTERS, ["all", "ems", "none", "one-day"], strict=True)
    ],
)
def test_cached_results_equal_direct_computation(store, f):
    snap = DataSource(store).snapshot()
    f = f.with_(agency=snap.default_agency)
    written = {name: fn(snap, *args) for name, fn, args in _calls(f)}
    stored = list(snap.results.folder.glob("*.result"))
    # one file per result (overview's own questions, such as the latest date, included)
    assert snap.results.computed == len(stored) >= len(written) and not snap.results.skipped
    # another process (a fresh DataSource) reads every result from its file
    other = DataSource(store).snapshot()
    got = {name: fn(other, *args) for name, fn, args in _calls(f)}
    assert other.results.computed == 0 and other.results.read == len(written)
    for name, fn, args in _calls(f):
        _equal(got[name], _direct(fn, other, args))
        _equal(got[name], written[name])


def test_keyword_and_default_arguments_share_one_result(store):
    snap = DataSource(store).snapshot()
    f = Filters(layer=LAYER, agency=snap.default_agency)
    a = stats.zone_stats(snap, f, LAYER, "travel", 240.0)
    b = stats.zone_stats(snap, f, LAYER, "travel", 240.0, pct=90)
    assert a is b and snap.results.computed == 1
    # filters selecting the same rows are one result (the URL's layer and profile aside)
    c = stats.zone_stats(snap, f.with_(profile_chosen=True), LAYER, "travel", 240.0)
    d = stats.zone_stats(snap, f.with_(layer=None, profile="cfai"), LAYER, "travel", 240.0)
    assert c is a and d is a and snap.results.computed == 1
    e = stats.zone_stats(snap, f.with_(categories=("ems",)), LAYER, "travel", 240.0)
    assert snap.results.computed == 2 and e.height


def _extra_batch(tmp_path: Path, n: int = 12) -> Path:
    """n incidents not in the SF week: the slice's first rows with new call numbers."""
    df = pl.read_csv(SF_SLICE, infer_schema_length=0)
    calls = df["Call Number"].unique(maintain_order=True).head(n)
    df = df.filter(pl.col("Call Number").is_in(calls.implode())).with_columns(
        ("9" + pl.col("Call Number")).alias("Call Number"),
        ("9" + pl.col("Incident Number")).alias("Incident Number"),
        ("9" + pl.col("RowID")).alias("RowID"),
    )
    out = tmp_path / "extra.csv"
    df.write_csv(out)
    return out


def test_a_new_data_version_never_serves_an_old_result(store, tmp_path):
    from dispatch_analytics import ingest, load_profile

    ds = DataSource(store)
    snap = ds.snapshot()
    f = Filters(agency=snap.default_agency)
    before = stats.overview_stats(snap, f, TARGETS)["total_response"]["summary"]["volume"]
    n_before, _ = views._status_counts(snap, f)
    old_folder = snap.results.folder
    assert old_folder.is_dir()

    ingest(_extra_batch(tmp_path), load_profile("sffd"), data_dir=store)

    new = ds.snapshot()
    assert new.version != snap.version
    after = stats.overview_stats(new, f, TARGETS)["total_response"]["summary"]["volume"]
    n_after, _ = views._status_counts(new, f)
    assert after == before + 12 and n_after == n_before + 12
    assert new.results.read == 0  # nothing read: every result of the new version computed
    assert not old_folder.exists()  # the old version's results went with its snapshot
    assert [p.name for p in results_root(ds.cache_dir).iterdir()] == [new.results.folder.name]
    # a worker still holding the old snapshot computes its own answer; it writes nothing
    again = stats.heatmap(snap, f)
    assert again.height and not old_folder.exists()


def test_clearing_the_cache_folder_recomputes(store):
    ds = DataSource(store)
    snap = ds.snapshot()
    f = Filters(agency=snap.default_agency)
    a = stats.heatmap.uncached(snap, f)
    stats.heatmap(snap, f)
    shutil.rmtree(results_root(ds.cache_dir))  # "how to clear it" in docs/dashboard.md
    other = DataSource(store).snapshot()
    assert_frame_equal(stats.heatmap(other, f), a)
    assert other.results.computed == 1 and other.results.folder.is_dir()


# ------------------------------------------------------------------ corrupt / partial files
@pytest.mark.parametrize(
    "damage",
    [  # two kinds of damage in the fast run, the other three slow (about 1 s each)
        "truncated",
        "garbage",
        *(pytest.param(d, marks=pytest.mark.slow) for d in ("flipped", "empty", "header")),
    ],
)
def test_a_corrupt_or_partial_file_is_recomputed_not_served(store, damage):
    snap = DataSource(store).snapshot()
    f = Filters(agency=snap.default_agency, layer=LAYER)
    good = stats.overview_stats(snap, f, TARGETS)
    (path,) = snap.results.folder.glob("overview_stats-*.result")
    data = path.read_bytes()
    bad = {
        "truncated": data[: len(data) // 2],
        "garbage": b"\x00\x01 not a result at all",
        "flipped": data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:],
        "empty": b"",
        "header": data[:12] + b"{" + data[13:],
    }[damage]
    path.write_bytes(bad)
    other = DataSource(store).snapshot()
    got = stats.overview_stats(other, f, TARGETS)
    _equal(got, good)
    assert other.results.computed == 1  # the damaged overview (its latest date was intact)
    _equal(decode(path.read_bytes()), good)  # replaced by an intact file


def test_decode_rejects_what_encode_did_not_write():
    blob = encode({"a": pl.DataFrame({"x": [1, 2]})})
    with pytest.raises(ValueError, match="not a results-cache file"):
        decode(b"PAR1" + blob)
    with pytest.raises(ValueError, match="truncated or corrupt body"):
        decode(blob[:-1])
    with pytest.raises(ValueError, match="truncated or corrupt body"):
        decode(blob + b"x")


def test_codec_round_trips_every_kind_of_value():
    frames = {
        "empty": pl.DataFrame(schema={"d": pl.Date, "n": pl.Int64, "p": pl.Float64}),
        "one": pl.DataFrame({"d": [date(2024, 3, 10)], "s": ["a"], "x": [None]}),
        "types": pl.DataFrame(
            {
                "t": [datetime(2024, 1, 1, 8, tzinfo=UTC), None],
                "l": [[1, 2], []],
                "b": [True, None],
                "f": [float("nan"), 1.5],
            }
        ),
    }
    value = {
        "frames": frames,
        ("tuple", 1): [1, 2.5, float("nan"), float("inf"), None, True, "x"],
        "when": (date(2024, 1, 1), datetime(2024, 1, 1, 1, 2, 3), datetime.now(UTC)),
        "decimal": Decimal("12345678901234567890.5"),
        3: {"nested": [{"deep": frames["one"]}]},
    }
    _equal(decode(encode(value)), value)


def test_a_value_the_codec_cannot_store_is_computed_not_stored(tmp_path):
    cache = ResultsCache(tmp_path, "v1")
    got = cache.get("odd", (1,), lambda: {1, 2})
    assert got == {1, 2} and cache.skipped == 1
    assert not list(cache.folder.glob("*.result"))
    assert cache.get("odd", (1,), lambda: {3}) == {3}  # computed again, never half-stored


# ------------------------------------------------------------------ computed once
def _slow_count(log: str, value: int):
    """A build that records each computation (appended lines: atomic across processes)."""
    import time

    with open(log, "a", encoding="utf-8") as fh:
        fh.write("computed\n")
    time.sleep(0.3)  # long enough for every other asker to arrive meanwhile
    return pl.DataFrame({"v": [value]})


def _ask(cache_dir: str, log: str, go, threads: int, out) -> None:
    cache = ResultsCache(Path(cache_dir), "v7")
    got, inner = [], threading.Barrier(threads)

    def one():
        inner.wait()
        got.append(cache.get("count", ("key",), lambda: _slow_count(log, 42))["v"][0])

    go.wait()
    ts = [threading.Thread(target=one) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put((got, cache.computed, cache.read))


@pytest.mark.slow  # a second process; fast: test_threads_asking_for_a_view_compute_each_result_once
def test_8_threads_and_2_processes_asking_for_one_key_compute_it_once(tmp_path):
    log = tmp_path / "computed.log"
    ctx = mp.get_context("spawn")
    go, out = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_ask, args=(str(tmp_path), str(log), go, 4, out)) for _ in range(2)]
    for p in procs:
        p.start()
    here: queue.Queue = queue.Queue()
    _ask_in_this_process = threading.Thread(target=_ask, args=(tmp_path, log, go, 8, here))
    _ask_in_this_process.start()
    results = [out.get(timeout=300) for _ in procs] + [here.get(timeout=300)]
    _ask_in_this_process.join()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert log.read_text().splitlines() == ["computed"]  # once, for 16 askers
    values = [v for got, _c, _r in results for v in got]
    assert values == [42] * 16
    assert sum(c for _g, c, _r in results) == 1
    assert sum(r for _g, _c, r in results) == 15


def test_threads_asking_for_a_view_compute_each_result_once(store):
    ds = DataSource(store)
    snap = ds.snapshot()
    f = Filters(agency=snap.default_agency, layer=LAYER)
    go, got, errors = threading.Barrier(8), [], []

    def viewer():
        try:
            go.wait()
            got.append(stats.trends(snap, f, TARGETS, "month"))
        except Exception as exc:  # pragma: no cover - shown by the assert below
            errors.append(exc)

    ts = [threading.Thread(target=viewer) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors and snap.results.computed == 1
    for g in got[1:]:
        _equal(g, got[0])


# ------------------------------------------------------------------ warm-up
def test_the_first_process_to_open_a_version_warms_the_default_views(store):
    from dash_app.config import load_config
    from dash_app.targets import profile_targets

    cfg = load_config(alerts_log=store / "alerts.log")
    first, second = DataSource(store), DataSource(store)
    warmed: list[list[str]] = []
    for ds in (first, second):
        ds.warm_up = lambda d: warmed.append(views.warm_defaults(d, cfg, profile_targets))
    first.snapshot()
    assert first.warm_thread is not None
    first.warm_thread.join(timeout=300)
    snap = second.snapshot()
    assert second.warm_thread is None  # the version was warmed by the first
    assert len(warmed) == 1 and any(p.startswith("overview") for p in warmed[0])
    # the first viewer of the default view computes nothing: every result is read
    for search in views.default_searches(second, cfg.profile):
        f = views.resolve_filters(second, views.parse_search(search, cfg.profile))
        targets = profile_targets(f.profile)
        views.status_text(second, views.parse_search(search, cfg.profile))
        views.trends_view(second, f, targets, "month")
        views.units_view(second, f, targets)
        stats.overview_stats(snap, f, targets, "week")
    assert snap.results.computed == 0 and snap.results.read > 5
