"""Dashboard settings: defaults, a `[dashboard]` table in a TOML file, and the environment."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from dispatch_analytics.errors import DispatchError

from .filters import ProfileDefaults

__all__ = ["DashConfig", "load_config"]


@dataclass
class DashConfig:
    """Settings of one dashboard instance.

    Attributes
    ----------
    refresh_s : float
        How often the app looks for newly ingested data (seconds).
    tile_url : str or None
        An XYZ raster tile URL template for the map background (e.g. a local tile server);
        none by default, so the map works with no network.
    users : dict
        Basic-auth users (name -> password or werkzeug hash). Empty: no authentication.
    alerts_log : Path or None
        JSON-lines file that alerts are appended to (default ``<data dir>/alerts.log``).
    alert_window_days : int
        Rolling window for compliance alerts, ending at the newest incident.
    alert_min_n : int
        Groups with fewer incidents than this raise no alert.
    sql_row_limit, sql_timeout_s
        Limits of the SQL console: rows shown, seconds per query.
    sql_max_bytes : int
        The console cuts a result at about this many bytes (Arrow size) as well as at
        ``sql_row_limit`` rows.
    sql_memory_limit : str
        DuckDB ``memory_limit`` of the console (all its queries together), e.g. ``"1GB"``.
    sql_threads : int
        DuckDB ``threads`` of the console.
    profile : str
        Default standards profile (a :class:`~dash_app.filters.ProfileDefaults` after
        :func:`load_config`: also each agency's own).
    agencies : dict
        Agency -> its standards profile, from the config's ``[agencies."NAME"] standards =
        "nfpa1720"`` tables (the same ones ``dispatch report --config`` reads); an agency not
        named takes ``profile``. Switching agency on the dashboard switches the profile,
        unless the user chose one.
    h3_resolution : int
        Resolution of the hexagon layer.
    host : str
        The interface the server binds (``dispatch serve --host``); a name or address here
        is also an allowed ``Host``.
    feed_stale_after_s : float
        The dashboard warns that the feed is stale when the agency's last successful ingest
        is older than this (seconds; the rule of ``dispatch feed-status --check``).
    allowed_hosts : list of str
        More ``Host`` names to answer (e.g. the name a reverse proxy forwards); loopback
        names are always allowed; ``"*"`` allows any (only behind a proxy that checks it).
    """

    refresh_s: float = 30.0
    tile_url: str | None = None
    users: dict[str, str] = field(default_factory=dict)
    alerts_log: Path | None = None
    alert_window_days: int = 7
    alert_min_n: int = 20
    sql_row_limit: int = 5000
    sql_timeout_s: float = 10.0
    sql_max_bytes: int = 50_000_000
    sql_memory_limit: str = "1GB"
    sql_threads: int = 2
    profile: str = "nfpa1710"
    h3_resolution: int = 8
    host: str = "127.0.0.1"
    allowed_hosts: list[str] = field(default_factory=list)
    feed_stale_after_s: float = 900.0
    agencies: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.profile = ProfileDefaults(str(self.profile), self.agencies)

    def profile_for(self, agency: str | None) -> str:
        """The standards profile of ``agency`` (its configured one, else ``profile``)."""
        return self.agencies.get(agency, str(self.profile)) if agency else str(self.profile)


def load_config(path: str | Path | None = None, **overrides) -> DashConfig:
    """Build a :class:`DashConfig` from defaults, a TOML file, the environment and overrides.

    Environment: ``DISPATCH_DASH_USERS="alice:secret,bob:pw"``, ``DISPATCH_DASH_REFRESH_S``,
    ``DISPATCH_DASH_TILE_URL``, ``DISPATCH_DASH_ALLOWED_HOSTS="dash.example.org,10.0.0.5"``.
    """
    cfg = DashConfig()
    problems = []
    if path is not None:
        try:
            doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise DispatchError(f"cannot read dashboard config {path}: {exc}") from exc
        data = doc.get("dashboard", {})
        problems += _agency_profiles(doc, cfg)
        known = {f.name for f in fields(DashConfig)} - {"agencies"}
        for k, v in data.items():
            if k not in known:
                problems.append(
                    f"unknown key `{k}` in [dashboard]; known: {', '.join(sorted(known))}"
                )
            else:
                setattr(cfg, k, v)
    users_env = os.environ.get("DISPATCH_DASH_USERS")
    if users_env:
        for pair in users_env.split(","):
            name, sep, pw = pair.partition(":")
            if not sep or not name or not pw:
                problems.append("`DISPATCH_DASH_USERS` must look like 'alice:secret,bob:pw'")
                break
            cfg.users[name.strip()] = pw.strip()
    if os.environ.get("DISPATCH_DASH_REFRESH_S"):
        cfg.refresh_s = float(os.environ["DISPATCH_DASH_REFRESH_S"])
    if os.environ.get("DISPATCH_DASH_TILE_URL"):
        cfg.tile_url = os.environ["DISPATCH_DASH_TILE_URL"]
    for k, v in overrides.items():
        if v is not None:
            setattr(cfg, k, v)
    if cfg.refresh_s <= 0:
        problems.append(f"`refresh_s` must be > 0, got {cfg.refresh_s}")
    if os.environ.get("DISPATCH_DASH_ALLOWED_HOSTS"):
        cfg.allowed_hosts = [
            *cfg.allowed_hosts,
            *(h.strip() for h in os.environ["DISPATCH_DASH_ALLOWED_HOSTS"].split(",") if h.strip()),
        ]
    if isinstance(cfg.allowed_hosts, str) or not all(
        isinstance(h, str) and h for h in cfg.allowed_hosts
    ):
        problems.append(
            f'`allowed_hosts` must be a list of host names, e.g. ["dash.example.org"]; got '
            f"{cfg.allowed_hosts!r}"
        )
    for key in ("sql_row_limit", "sql_max_bytes", "sql_threads"):
        v = getattr(cfg, key)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            problems.append(f"`{key}` must be a whole number >= 1, got {v!r}")
    if not isinstance(cfg.feed_stale_after_s, int | float) or not cfg.feed_stale_after_s > 0:
        problems.append(f"`feed_stale_after_s` must be > 0 seconds, got {cfg.feed_stale_after_s!r}")
    if not isinstance(cfg.sql_timeout_s, int | float) or cfg.sql_timeout_s <= 0:
        problems.append(f"`sql_timeout_s` must be > 0 seconds, got {cfg.sql_timeout_s!r}")
    if cfg.alerts_log is not None:
        cfg.alerts_log = Path(cfg.alerts_log)
    problems += _check_profile(cfg.profile)
    if problems:
        raise DispatchError("invalid dashboard config: " + "; ".join(problems))
    cfg.profile = ProfileDefaults(str(cfg.profile), cfg.agencies)
    return cfg


def _agency_profiles(doc: dict, cfg: DashConfig) -> list[str]:
    """``[agencies."NAME"] standards`` of the config (read by the library, as ``dispatch
    report --config`` reads it) into ``cfg.agencies``; the problems, if any."""
    from dispatch_analytics.metrics.agency_standards import agency_profiles
    from dispatch_analytics.metrics.standards import StandardError

    try:
        cfg.agencies = agency_profiles({"agencies": doc.get("agencies", {})})
    except StandardError as exc:
        return [str(exc).removeprefix("overrides: ")]
    return []


def _check_profile(name) -> list[str]:
    """The global ``profile`` must be a standards profile the library knows."""
    from dispatch_analytics.metrics.standards import StandardError, load_standard

    if not isinstance(name, str) or not name:
        return [f'`profile` must be a standards profile name, e.g. "nfpa1710"; got {name!r}']
    try:
        load_standard(name)
    except StandardError as exc:
        return [f"`profile`: {exc}"]
    return []
