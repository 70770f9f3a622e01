"""Screenshot every dashboard page (headless Chromium) into docs/screenshots/.

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

PAGES = {
    "overview": "/?layer=station_areas",
    "map": "/map?layer=station_areas",
    "trends": "/trends?from=2024-01-01&to=2024-12-31",
    "units": "/units?layer=station_areas",
    "hotspots": "/hotspots?layer=station_areas",
    "impact": "/impact?layer=station_areas",
    "quality": "/quality",
    "sql": "/sql",
}


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
            time.sleep(20 if name in ("hotspots", "impact", "units") else 6)
            if name == "map":
                drv.execute_script(
                    "const gd = document.querySelector('#map-zones .js-plotly-plot');"
                    "gd.emit('plotly_click', {points: [{location: 'S03', curveNumber: 0}]});"
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
