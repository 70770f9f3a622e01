"""Static maps: PNG, PDF and offline HTML of tiny hand-built polygons and points, the legend,
scale bar and north arrow, bad input; ``dispatch map zones`` end to end on the SFFD slice."""

from __future__ import annotations

import html
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from conftest import SF_SLICE, SF_STATIONS_LOAD

from dispatch_analytics.cli import main
from dispatch_analytics.errors import ExportError
from dispatch_analytics.io.map_style import (
    legend_label,
    length_text,
    nice_length,
    tick_text,
    ticks,
    value_kind,
)
from dispatch_analytics.io.maps import MapSpec, PointLayer, render_map

ROOT = Path(__file__).resolve().parents[1]
SF_WEEK = ROOT / "sample_data" / "sf_week"


def tiny_layer() -> gpd.GeoDataFrame:
    """Four 1 km-ish squares near San Francisco, one without a value."""
    x0, y0, d = -122.45, 37.75, 0.01
    return gpd.GeoDataFrame(
        {
            "zone_id": ["Z1", "Z2", "Z3", "Z4"],
            "name": ["North", "South", "East", "West"],
            "n": [40, 12, 0, 3],
            "p90_s": [301.0, 545.0, np.nan, 250.0],
            "compliance": [0.95, 0.5, np.nan, 1.0],
            "status": ["met", "not_met", "no_data", "met"],
        },
        geometry=[shapely.box(x0 + i * d, y0, x0 + (i + 1) * d, y0 + d) for i in range(4)],
        crs="EPSG:4326",
    )


def tiny_points() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"station_id": ["07", "11"]},
        geometry=[shapely.Point(-122.445, 37.755), shapely.Point(-122.415, 37.755)],
        crs="EPSG:4326",
    )


def spec(**kw) -> MapSpec:
    base = dict(
        title="Tiny map",
        subtitle="profile nfpa1710",
        date_range="2024-01-01 to 2024-01-31",
        points=[PointLayer(tiny_points(), "station_id", "stations")],
    )
    return MapSpec(**{**base, **kw})


def png_pixels(path: Path) -> np.ndarray:
    import matplotlib.image as mpimg

    return mpimg.imread(path)


#: The only URLs an HTML map may hold: the SVG and XLink namespace names (never fetched).
NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


def assert_offline(text: str) -> None:
    """No script, nothing loaded from anywhere, no tile template, no URL but namespaces."""
    assert "<script" not in text.lower()
    assert not re.search(r"""\b(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "{z}" not in text and not re.search(r"url\((?!#)", text)  # only url(#clip-id)
    assert set(re.findall(r"https?://[^\s\"'<>)]+", text)) <= NAMESPACES


def tooltips(text: str) -> list[str]:
    """The ``<title>`` texts of the SVG's feature groups."""
    return [
        html.unescape(t)
        for t in re.findall(r'<g id="feature-\d+">\s*<title>(.*?)</title>', text, re.S)
    ]


# ================================================================================ helpers
def test_nice_lengths_ticks_and_labels():
    assert [nice_length(s) for s in (12_000, 4_000, 900, 55_000, 0)] == [
        2000,
        500,
        100,
        10_000,
        1.0,
    ]
    assert (
        length_text(2000) == "2 km"
        and length_text(500) == "500 m"
        and length_text(1500) == "1.5 km"
    )
    assert ticks("duration", 200, 1230) == [360, 540, 720, 900, 1080]
    assert ticks("duration", 61, 299) == [120, 180, 240]
    assert ticks("share", 0, 1) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert ticks("count", 0, 146) == [0, 40, 80, 120]
    assert ticks("number", 5, 5) == [5]
    assert [tick_text("duration", v) for v in (360, 3725)] == ["6:00", "1:02:05"]
    assert tick_text("share", 0.85) == "85%" and tick_text("count", 1204.0) == "1,204"
    g = tiny_layer()
    kinds = {c: value_kind(g, c) for c in ("n", "p90_s", "compliance", "status", "zone_id")}
    assert kinds == {
        "n": "count",
        "p90_s": "duration",
        "compliance": "share",
        "status": "category",
        "zone_id": "category",
    }
    assert legend_label("p90_s", "duration", None) == "90th pct (m:ss)"
    assert legend_label("compliance", "share", "compliance, travel") == "compliance, travel (%)"


# =================================================================================== PNG
@pytest.mark.parametrize("column", ["p90_s", "compliance", "n", "status"])
def test_png_renders_and_is_not_blank(tmp_path, column):
    out = render_map(tiny_layer(), column, tmp_path / f"{column}.png", spec())
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    px = png_pixels(out)
    assert px.shape[0] > 800 and px.shape[1] > 1000
    colours = {tuple(c) for c in (px[::7, ::7, :3] * 255).astype(int).reshape(-1, 3)}
    assert len(colours) > 20  # polygons, legend, text: far from one flat colour
    assert px[..., :3].std() > 0.05


def test_png_has_legend_scale_bar_north_arrow_and_station_labels():
    from matplotlib_scalebar.scalebar import ScaleBar

    from dispatch_analytics.io.maps_static import static_figure

    g = tiny_layer()
    utm = g.estimate_utm_crs()
    s = spec()
    s.points = [PointLayer(tiny_points().to_crs(utm), "station_id", "stations")]
    fig = static_figure(g.to_crs(utm), "p90_s", s)
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert "N" in texts and {"07", "11"} <= set(texts)
    assert any(isinstance(a, ScaleBar) for a in ax.artists)
    cbar = fig.axes[1]
    assert cbar.get_ylabel() == "90th pct (m:ss)"
    labels = [t.get_text() for t in cbar.get_yticklabels()]
    assert labels and all(re.fullmatch(r"\d+:\d\d", t) for t in labels), labels
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["no data", "stations"]
    assert fig._suptitle.get_text() == "Tiny map"
    assert ax.get_title(loc="left") == "2024-01-01 to 2024-01-31 · profile nfpa1710"


def test_categories_get_their_colours():
    from dispatch_analytics.io.maps_static import static_figure

    g = tiny_layer().to_crs(32610)
    fig = static_figure(g, "status", spec(points=[]))
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["met", "not met", "no data"]
    assert len(fig.axes) == 1  # no colour bar for categories


# =================================================================================== PDF
def test_pdf_renders(tmp_path):
    out = render_map(tiny_layer(), "compliance", tmp_path / "m.pdf", spec())
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert b"Tiny map" in data and len(data) > 10_000


# ================================================================================== HTML
@pytest.mark.parametrize("column", ["p90_s", "status"])
def test_html_is_offline_and_holds_the_data(tmp_path, column):
    out = render_map(tiny_layer(), column, tmp_path / "m.html", spec())
    text = out.read_text(encoding="utf-8")
    assert (
        text.startswith("<!doctype html>") and "<svg" in text and text.rstrip().endswith("</html>")
    )
    assert_offline(text)
    tips = tooltips(text)
    assert len(tips) == 4
    assert tips[0].splitlines()[:4] == ["North", "zone: Z1", "n: 40", "90th pct: 5:01"]
    assert "compliance: 95.0%" in tips[0] and "90th pct: –" in tips[2]  # Z3 has no value
    assert "<td>9:05</td>" in text and "<td>50.0%</td>" in text  # the table, people's formats
    assert "<title>Tiny map</title>" in text and "2024-01-01 to 2024-01-31" in text


def test_html_map_is_the_static_figure(tmp_path):
    """The SVG holds what the PNG shows: station labels, north arrow, scale bar, legend."""
    text = render_map(tiny_layer(), "compliance", tmp_path / "m.html", spec()).read_text("utf-8")
    for label in ("07", "11", "stations", "no data"):
        assert f"<!-- {label} -->" in text, label  # matplotlib's SVG comments each text
    assert "<!-- N -->" in text and re.search(r"<!-- \d+ (m|km) -->", text)
    assert "<!-- 100% -->" in text and "<!-- 0% -->" in text  # colour-bar ticks


def test_output_replaced_and_nothing_left_behind(tmp_path):
    render_map(tiny_layer(), "n", tmp_path / "m.png", spec())
    render_map(tiny_layer().iloc[:2], "n", tmp_path / "m.png", spec())
    assert [p.name for p in tmp_path.iterdir()] == ["m.png"]


# ================================================================================ errors
@pytest.mark.parametrize(
    "name, column, layer, match",
    [
        (
            "m.jpg",
            "n",
            tiny_layer(),
            r"`--out` 'm.jpg': a map is written as .png, .pdf or .html; rename it \(e.g. m.png\)",
        ),
        ("missing/m.png", "n", tiny_layer(), r"the folder '.*missing' does not exist"),
        (
            "m.png",
            "p99_s",
            tiny_layer(),
            r"`--by` column 'p99_s' is not in the layer; columns: zone_id, name",
        ),
        ("m.png", "n", tiny_layer().iloc[:0], r"nothing to map: the layer has no rows"),
        ("m.png", "n", tiny_layer().set_crs(None, allow_override=True), r"the layer has no CRS"),
    ],
)
def test_bad_input(tmp_path, name, column, layer, match):
    with pytest.raises(ExportError, match=match):
        render_map(layer, column, tmp_path / name, spec())
    assert not list(tmp_path.rglob("*m.*"))


def test_bad_point_label(tmp_path):
    s = spec(points=[PointLayer(tiny_points(), "nope", "stations")])
    with pytest.raises(ExportError, match="point layer stations: label column 'nope' is missing"):
        render_map(tiny_layer(), "n", tmp_path / "m.png", s)


# =========================================================================== the CLI
def run(capsys, *args):
    code = main([str(a) for a in args])
    cap = capsys.readouterr()
    return code, " ".join(cap.out.split()), " ".join(cap.err.split())


@pytest.fixture(scope="module")
def sf_store(tmp_path_factory):
    d = tmp_path_factory.mktemp("sfmap") / "store"
    for args in (
        ["ingest", SF_SLICE, "--profile", "sffd"],
        [
            "zones",
            "load",
            SF_WEEK / "sf_analysis_neighborhoods.geojson",
            "--layer",
            "neighborhoods",
            "--id-field",
            "nhood",
        ],
        list(SF_STATIONS_LOAD),
    ):
        assert main([str(a) for a in args] + ["--data-dir", str(d)]) == 0
    return d


@pytest.mark.parametrize(
    "ext, by",
    [  # the PNG is slow (a rendered map); fast: test_png_renders_and_is_not_blank
        pytest.param("png", "p90", marks=pytest.mark.slow),
        ("pdf", "compliance"),
        ("html", "n"),
    ],
)
def test_cli_map_every_format(sf_store, tmp_path, capsys, ext, by):
    out = tmp_path / f"m.{ext}"
    code, text, err = run(
        capsys,
        "map",
        "zones",
        "--layer",
        "neighborhoods",
        "--metric",
        "travel",
        "--by",
        by,
        "--out",
        out,
        "--data-dir",
        sf_store,
    )
    assert code == 0, err
    col = {"p90": "p90_s", "compliance": "compliance", "n": "n"}[by]
    assert text == f"wrote {out} (zones by {col})"
    data = out.read_bytes()
    if ext == "png":
        assert data[:4] == b"\x89PNG" and png_pixels(out)[..., :3].std() > 0.05
    elif ext == "pdf":
        assert data.startswith(b"%PDF-") and b"Travel by zone, layer neighborhoods" in data
    else:
        text = data.decode("utf-8")
        assert_offline(text)
        assert "Bayview Hunters Point" in text and len(tooltips(text)) == 41
        assert "profile nfpa1710 · target 4:00 at the 90th pct" in text


def test_cli_map_title_status_and_no_stations(sf_store, tmp_path, capsys):
    out = tmp_path / "s.html"
    code, _, err = run(
        capsys,
        "map",
        "zones",
        "--layer",
        "neighborhoods",
        "--metric",
        "travel",
        "--by",
        "status",
        "--title",
        "My title",
        "--no-stations",
        "--out",
        out,
        "--data-dir",
        sf_store,
    )
    assert code == 0, err
    text = out.read_text(encoding="utf-8")
    assert "<title>My title</title>" in text and "<!-- not met -->" in text
    assert "<!-- stations -->" not in text


@pytest.mark.parametrize(
    "args, match",
    [
        (
            ["--layer", "neighborhoods", "--by", "p99", "--out", "{d}/m.png"],
            r"`--by` 'p99' is not a choice for zones; choose one of p50, p90, p95, mean, compliance, n, status",
        ),
        (
            ["--layer", "neighborhoods", "--out", "{d}/m.jpg"],
            r"a map is written as .png, .pdf or .html",
        ),
        (["--layer", "nope", "--out", "{d}/m.png"], r"`layer` 'nope' is not loaded"),
        (
            ["--layer", "neighborhoods", "--out", "{d}/no/m.png"],
            r"the folder '.*no' does not exist",
        ),
    ],
)
def test_cli_map_errors(sf_store, tmp_path, capsys, args, match):
    code, _, err = run(
        capsys, "map", "zones", *[a.format(d=tmp_path) for a in args], "--data-dir", sf_store
    )
    assert code == 1 and "Error: " in err and "Traceback" not in err
    assert re.search(match, err), err
    assert not any(tmp_path.iterdir())


def test_cli_map_help_has_an_example(capsys):
    for group in (["map"], ["map", "zones"]):
        code, text, _ = run(capsys, *group, "--help")
        assert code == 0 and "Example: dispatch map zones" in text
