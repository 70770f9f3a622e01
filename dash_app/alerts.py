"""Alerts: rolling compliance of an interval (overall, or per zone) below its target share."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from dispatch_analytics import fmt

from .data import INTERVALS, Snapshot
from .filters import Filters

__all__ = ["Alert", "evaluate_alerts", "append_alerts"]


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
    snap: Snapshot, f: Filters, targets: dict[str, tuple], window_days: int = 7, min_n: int = 20
) -> list[Alert]:
    """Alerts for every interval with a target, overall and per zone of ``f.layer``.

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
    if f.layer and f.layer in snap.layers:
        zone = f's."zone__{f.layer}"'
        scopes.append((f"'{f.layer}:' || {zone}", f"{zone} is not null"))
    order = {m: i for i, m in enumerate(wanted)}
    rows = []
    for scope_sql, where in scopes:
        df = interval_table(snap, ff, wanted, keys={"scope": scope_sql}, where=where)
        rows += sorted(df.iter_rows(named=True), key=lambda r: order[r["metric"]])
    names = _zone_names(snap, f.layer) if f.layer in snap.layers else {}
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
                    names.get(r["scope"].split(":", 1)[-1], "") if r["scope"] != "all" else "",
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
