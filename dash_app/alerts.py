"""Alerts: rolling compliance of an interval (overall, or per zone) below its target share.

Alerts are evaluated once per (data version, agency), over all of the agency's calls (not a
viewer's filters), by whichever server worker or thread asks first, under an exclusive
``fcntl`` lock on ``<data dir>/state/alerts/alerts.lock``: the result is written to
``state/alerts/<version digest>-<agency digest>.json`` (temporary file, then rename), new
alerts are appended to the alerts log, and one line is added to ``state/alerts/evaluations.log``.
Every viewer reads the stored result (:func:`stored_alerts`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from dispatch_analytics import fmt

from .data import INTERVALS, Snapshot
from .filters import Filters

__all__ = ["Alert", "evaluate_alerts", "append_alerts", "stored_alerts", "alerts_dir"]


@dataclass(frozen=True)
class Alert:
    """One compliance shortfall over the rolling window ending at the newest incident."""

    metric: str
    scope: str  # "all" or "<layer>:<zone_id>"
    window_start: date
    window_end: date
    n: int
    compliance: float
    target_share: float
    target: str  # e.g. "4:00" or "1:00 ems · 1:20 fire, other"
    zone_name: str = ""  # the zone's display name (scope "<layer>:<zone_id>")
    agency: str = ""

    @property
    def key(self) -> str:
        return f"{self.agency}|{self.metric}|{self.scope}|{self.window_end.isoformat()}"

    def message(self) -> str:
        if self.scope == "all":
            where = f"all of {self.agency}'s calls" if self.agency else "all calls"
        else:
            layer = self.scope.split(":", 1)[0].replace("_", " ")
            where = f"{self.zone_name or self.scope.split(':', 1)[-1]} ({layer})"
        return (
            f"{INTERVALS[self.metric][0]}: {fmt.share(self.compliance)} within {self.target} "
            f"in {where}, {self.window_start} to {self.window_end} (target "
            f"{fmt.share(self.target_share, 0)}, {fmt.count(self.n)} calls)"
        )


def evaluate_alerts(
    snap: Snapshot,
    f: Filters,
    targets: dict[str, tuple],
    window_days: int = 7,
    min_n: int = 20,
    layers: list[str] | None = None,
) -> list[Alert]:
    """Alerts for every interval with a target, overall and per zone of ``f.layer`` (or of
    every layer in ``layers``).

    ``targets`` maps metric -> (target, percentile), target as in
    :func:`dash_app.stats.target_sql`; the target share is percentile / 100. Compliance is the
    library's (``da_fractiles``, through :func:`dash_app.stats.interval_table`).
    """
    from .stats import interval_table, latest_date, target_label

    end = latest_date(snap, f.agency)
    if end is None:
        return []
    start = end - timedelta(days=window_days - 1)
    ff = f.with_(date_from=start, date_to=end)
    wanted = {m: (t, pct) for m, (t, pct) in targets.items() if m in INTERVALS}
    if not wanted:
        return []
    scopes: list[tuple[str, str | None]] = [("'all'", None)]
    zone_layers = [lyr for lyr in (layers if layers is not None else [f.layer]) if lyr]
    zone_layers = [lyr for lyr in zone_layers if lyr in snap.layers]
    for lyr in zone_layers:
        zone = f's."zone__{lyr}"'
        scopes.append((f"'{lyr}:' || {zone}", f"{zone} is not null"))
    order = {m: i for i, m in enumerate(wanted)}
    rows = []
    for scope_sql, where in scopes:
        df = interval_table(snap, ff, wanted, keys={"scope": scope_sql}, where=where)
        rows += sorted(df.iter_rows(named=True), key=lambda r: order[r["metric"]])
    names = {}
    for lyr in zone_layers:
        names |= {f"{lyr}:{z}": n for z, n in _zone_names(snap, lyr).items()}
    alerts = []
    for r in rows:
        target_s, pct = wanted[r["metric"]]
        share = pct / 100
        if r["n"] >= min_n and r["compliance"] is not None and r["compliance"] < share:
            alerts.append(
                Alert(
                    r["metric"],
                    r["scope"],
                    start,
                    end,
                    r["n"],
                    float(r["compliance"]),
                    share,
                    target_label(target_s),
                    names.get(r["scope"], ""),
                    f.agency or "",
                )
            )
    return sorted(alerts, key=lambda a: (a.scope != "all", a.compliance))


def _zone_names(snap: Snapshot, layer: str) -> dict[str, str]:
    df = snap.query(
        "select zone_id, any_value(name) as name from zones where layer = $l group by 1",
        {"l": layer},
    )
    return {z: n for z, n in zip(df["zone_id"].to_list(), df["name"].to_list(), strict=True) if n}


def append_alerts(path: Path, alerts: list[Alert]) -> int:
    """Append alerts not already in the log (by metric, scope and window end); return count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    seen = set()
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                seen.add(json.loads(line)["key"])
            except (ValueError, KeyError):
                continue
    new = [a for a in alerts if a.key not in seen]
    if new:
        with open(path, "a", encoding="utf-8") as fh:
            now = datetime.now(UTC).isoformat(timespec="seconds")
            for a in new:
                rec = {"raised_at": now, "key": a.key, "message": a.message(), **asdict(a)}
                fh.write(json.dumps(rec, default=str) + "\n")
    return len(new)


def alerts_dir(root: Path) -> Path:
    """Where the evaluated alerts of a store are kept (``<data dir>/state/alerts``)."""
    return Path(root) / "state" / "alerts"


def _digest(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()[:16]


def _alert_of(rec: dict) -> Alert:
    keys = Alert.__dataclass_fields__
    kw = {k: rec[k] for k in keys if k in rec}
    kw["window_start"] = date.fromisoformat(str(kw["window_start"]))
    kw["window_end"] = date.fromisoformat(str(kw["window_end"]))
    return Alert(**kw)


def _read_record(path: Path) -> list[Alert] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return [_alert_of(a) for a in data["alerts"]]


_local = threading.Lock()


# Long: the check, the evaluation and the three writes belong under one lock; split, the
# "never twice" rule would be spread over helpers that are only correct together
def stored_alerts(
    root: Path,
    snap: Snapshot,
    agency: str | None,
    targets: dict[str, tuple],
    window_days: int = 7,
    min_n: int = 20,
    alerts_log: Path | None = None,
) -> list[Alert]:
    """The alerts of ``agency`` for the snapshot's data version, evaluated once.

    The first caller in any process evaluates :func:`evaluate_alerts` over all of the
    agency's calls (every zone layer holding them) under an exclusive lock, writes the
    result, appends new alerts to ``alerts_log`` and one line to ``evaluations.log``; every
    later caller (any worker, any viewer, whatever their filters) reads the stored result.

    Parameters
    ----------
    root : Path
        The data directory (its ``state/alerts`` folder holds the results and the lock).
    snap : Snapshot
    agency : str or None
    targets : dict
        ``{metric: (target, percentile)}`` of the server's standards profile; metrics
        without a target raise no alert.
    window_days, min_n : int
        The rolling window and the fewest incidents an alert needs.
    alerts_log : Path, optional
        The JSON-lines log new alerts are appended to.

    Returns
    -------
    list of Alert
    """
    wanted = {m: v for m, v in targets.items() if v[0] is not None}
    folder = alerts_dir(root)
    path = folder / f"{_digest(snap.version)}-{_digest(agency or '')}.json"
    got = _read_record(path)
    if got is not None:
        return got
    folder.mkdir(parents=True, exist_ok=True)
    with _local:  # threads of one process; the flock below orders the processes
        fd = os.open(folder / "alerts.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            got = _read_record(path)
            if got is not None:
                return got
            f = Filters(agency=agency)
            alerts = evaluate_alerts(
                snap, f, wanted, window_days, min_n, layers=snap.layers_of(agency)
            )
            if alerts_log is not None and alerts:
                append_alerts(alerts_log, alerts)
            now = datetime.now(UTC).isoformat(timespec="seconds")
            rec = {
                "version": snap.version,
                "agency": agency,
                "evaluated_at": now,
                "pid": os.getpid(),
                "alerts": [{"key": a.key, **asdict(a)} for a in alerts],
            }
            tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
            tmp.write_text(json.dumps(rec, default=str), encoding="utf-8")
            os.replace(tmp, path)
            line = {k: rec[k] for k in ("version", "agency", "evaluated_at", "pid")}
            with open(folder / "evaluations.log", "a", encoding="utf-8") as fh:
                fh.write(json.dumps({**line, "alerts": len(alerts)}) + "\n")
            return alerts
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
