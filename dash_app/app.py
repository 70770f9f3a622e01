"""The dispatch-analytics dashboard (Dash). Built by :func:`create_app`; imports the library."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import polars as pl
from dash import Dash

from dispatch_analytics.store import resolve_data_dir

from . import views
from .auth import (
    allowed_host_names,
    content_security_policy,
    install_basic_auth,
    install_host_check,
    install_security_headers,
)
from .callbacks import register_callbacks
from .config import DashConfig, load_config
from .data import DataSource
from .layout import app_layout
from .targets import available_profiles, profile_targets

__all__ = ["create_app", "GeoCache"]


class GeoCache:
    """Map geometry (zone layers, stations, H3 cells) as GeoJSON, cached per data version."""

    def __init__(self, ds: DataSource):
        self.ds = ds
        self._lock = threading.Lock()
        self._cache: dict = {}

    def _get(self, key, build):
        v = self.ds.version()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] == v:
                return hit[1]
        value = build()
        with self._lock:
            self._cache[key] = (v, value)
        return value

    def layer(self, layer: str) -> dict | None:
        def build():
            try:
                from dispatch_analytics.spatial.zones import read_layer
            except ImportError:
                return None
            try:
                gdf = read_layer(self.ds.store.root, layer)
            except Exception:
                return None
            gdf = gdf[["zone_id", "geometry"]].copy()
            gdf["geometry"] = gdf.geometry.simplify(0.00005, preserve_topology=True)
            import json

            return json.loads(gdf.to_json())

        return self._get(("layer", layer), build)

    def zone_ids(self, layer: str) -> set[str]:
        gj = self.layer(layer)
        return {f["properties"]["zone_id"] for f in gj["features"]} if gj else set()

    def stations(self) -> pl.DataFrame | None:
        def build():
            try:
                from dispatch_analytics.spatial.stations import read_stations

                gdf = read_stations(self.ds.store.root)
            except Exception:
                return None
            if gdf is None or len(gdf) == 0:
                return None
            return pl.DataFrame(
                {
                    "station_id": gdf["station_id"].astype(str).tolist(),
                    "latitude": gdf["latitude"].tolist(),
                    "longitude": gdf["longitude"].tolist(),
                }
            )

        return self._get(("stations",), build)

    def cells(self) -> dict | None:
        def build():
            snap = self.ds.snapshot()
            if not snap.has_cells:
                return None
            import h3

            cells = snap.query("select distinct h3_cell from inc where h3_cell is not null")
            feats = []
            for c in cells["h3_cell"].to_list():
                ring = [[lng, lat] for lat, lng in h3.cell_to_boundary(c)]
                ring.append(ring[0])
                feats.append(
                    {
                        "type": "Feature",
                        "properties": {"h3_cell": c},
                        "geometry": {"type": "Polygon", "coordinates": [ring]},
                    }
                )
            return {"type": "FeatureCollection", "features": feats}

        return self._get(("cells",), build)


def _saved_queries() -> list[dict]:
    try:
        from dispatch_analytics.metrics.queries import list_queries
    except ImportError:
        return []
    out = []
    for q in list_queries():
        out.append(
            {
                "name": q.name,
                "description": q.description,
                "sql": Path(q.path).read_text(),
                "params": [{"name": p[0], "doc": p[1], "default": p[2]} for p in q.params],
            }
        )
    return out


def create_app(
    data_dir: str | Path | None = None,
    config: DashConfig | str | Path | None = None,
    warm_up: bool = True,
    **overrides,
) -> Dash:
    """Build the dashboard over a data directory.

    Parameters
    ----------
    data_dir : path, optional
        The store (default: ``$DISPATCH_DATA_DIR`` or ``./dispatch_data``).
    config : DashConfig or path to a TOML with a ``[dashboard]`` table, optional
    warm_up : bool
        Compute every page's default view in the background when this process is the first
        to open a data version (:func:`dash_app.views.warm_defaults`).
    **overrides
        Any :class:`DashConfig` field, e.g. ``refresh_s=5``.

    Returns
    -------
    dash.Dash
        ``app.run(host="127.0.0.1", port=8050)`` serves it.
    """
    cfg = config if isinstance(config, DashConfig) else load_config(config, **overrides)
    if isinstance(config, DashConfig):
        for k, v in overrides.items():
            if v is not None:
                setattr(cfg, k, v)
    root = resolve_data_dir(data_dir)
    if cfg.alerts_log is None:
        cfg.alerts_log = root / "alerts.log"
    ds = DataSource(root, h3_resolution=cfg.h3_resolution)
    app = Dash(
        __name__,
        title="dispatch-analytics",
        suppress_callback_exceptions=True,
        serve_locally=True,
        update_title=None,
    )
    # the Host check runs first: a rebinding page gets 400 before anything else answers
    install_host_check(app.server, allowed_host_names(cfg.host, cfg.allowed_hosts))
    install_basic_auth(app.server, cfg.users)
    install_security_headers(app.server, content_security_policy(app.csp_hashes()))
    profiles = available_profiles()

    def layout():
        from .stats import filter_choices

        snap = ds.snapshot()
        return app_layout(
            profiles, cfg.refresh_s, {**filter_choices(snap), "version": snap.version}
        )

    app.layout = layout
    geo = GeoCache(ds)
    register_callbacks(app, ds, cfg, profile_targets, geo, _saved_queries())
    if warm_up:
        # the first process to open a data version computes every page's default view
        ds.warm_up = lambda d: views.warm_defaults(d, cfg, profile_targets, geo)
    app.server.config["DISPATCH_DATA_SOURCE"] = ds
    _install_health(app.server, ds)
    return app


def _install_health(server, ds: DataSource) -> None:
    """``GET /healthz``: ``{"ok": true, "pid": ..., "version": ...}`` (the worker that
    answered and the data version it serves); every response names its worker in
    ``X-Dispatch-Worker``."""
    from flask import jsonify

    pid = str(os.getpid())

    @server.route("/healthz")
    def _healthz():
        snap = ds._snapshot
        return jsonify(
            ok=True,
            pid=os.getpid(),
            version=snap.version if snap is not None else None,
            snapshot_builds=ds.builds,
        )

    @server.after_request
    def _worker_header(resp):
        resp.headers["X-Dispatch-Worker"] = pid
        return resp
