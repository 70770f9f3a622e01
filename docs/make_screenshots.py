"""Screenshot every dashboard page (headless Chromium) into docs/screenshots/.

The demo store holds two agencies (``make demo-data``): every page is shot for the sample
city, and the overview and the map again for SFFD (``*_sffd.png``), to show the agency
selector switching every figure and the maps framed on each agency's data.

Usage:  make demo-data && .venv/bin/python docs/make_screenshots.py [--data-dir .demo/data]
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

from selenium import webdriver
from werkzeug.serving import make_server

from dash_app import create_app

CITY = "agency=Sample+City+FD"
PAGES = {
    "overview": f"/?{CITY}&layer=station_areas",
    "map": f"/map?{CITY}&layer=station_areas",
    "trends": f"/trends?{CITY}&from=2024-01-01&to=2024-12-31",
    "units": f"/units?{CITY}&layer=station_areas",
    "hotspots": f"/hotspots?{CITY}&layer=station_areas",
    "impact": f"/impact?{CITY}&layer=station_areas",
    "quality": f"/quality?{CITY}",
    "coverage": f"/coverage?{CITY}&layer=station_areas",
    "sql": "/sql",
    "overview_sffd": "/?agency=SFFD&layer=sf_neighborhoods",
    "map_sffd": "/map?agency=SFFD&layer=sf_neighborhoods",
    "quality_sffd": "/quality?agency=SFFD",
}
#: the zone clicked on each map (its breakdown is shown)
CLICK = {"map": "S03", "map_sffd": "Mission"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=".demo/data")
    ap.add_argument("--out", default=str(Path(__file__).parent / "screenshots"))
    args = ap.parse_args()
    app = create_app(args.data_dir)
    server = make_server("127.0.0.1", 8765, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1400,1100",
        "--disable-background-networking",
        "--disable-component-update",
    ):
        opts.add_argument(a)
    drv = webdriver.Chrome(options=opts)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        for name, path in PAGES.items():
            drv.get("http://127.0.0.1:8765" + path)
            time.sleep(20 if name in ("hotspots", "impact", "units", "coverage") else 6)
            if name in CLICK:
                drv.execute_script(
                    "const gd = document.querySelector('#map-zones .js-plotly-plot');"
                    "gd.emit('plotly_click', {points: [{location: arguments[0], curveNumber: 0}]});",
                    CLICK[name],
                )
                time.sleep(3)
            if name == "sql":
                drv.find_element("id", "sql-run").click()
                time.sleep(3)
            drv.save_screenshot(str(out / f"{name}.png"))
            print("wrote", out / f"{name}.png")
    finally:
        drv.quit()
        server.shutdown()


if __name__ == "__main__":
    main()
