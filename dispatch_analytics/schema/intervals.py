"""The interval registry: every response interval the package measures, defined once.

One :class:`Interval` per (name, level). Everything else is generated from :data:`INTERVALS`:

* the store's interval columns (``incidents.<name>_s`` for stored incident-level intervals,
  ``responses.<name>_s`` for unit-level ones: :mod:`dispatch_analytics.store.derived_sql`);
* the catalog's long views ``incident_intervals`` / ``unit_intervals`` (one row per record and
  interval: ``metric, value_s, excluded_reason``), which the analyst queries read;
* the choices of a query parameter documented as ``incident interval`` / ``unit interval``;
* the metric lookups of the standards profiles (``metric_def``, ``metric_names``);
* the dashboard's interval list.

Adding a metric is one entry here. A stored interval is the difference of two columns of the
derived table (``start_column`` -> ``end_column``); an interval with ``stored=False`` (first-due,
effective response force) is computed by :class:`~dispatch_analytics.metrics.fractiles.Fractiles`
from several unit rows, so it has no column.

Layer 0: imports nothing of the package but :mod:`..errors`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import MetricError

__all__ = [
    "LEVELS",
    "Interval",
    "INTERVALS",
    "intervals",
    "interval_names",
    "find_interval",
    "get_interval",
]

LEVELS = ("incident", "unit")
_TABLE = {"incident": "incidents", "unit": "responses"}


@dataclass(frozen=True)
class Interval:
    """One response interval.

    Attributes
    ----------
    name, level : str
        The metric name and ``incident`` (one value per incident) or ``unit`` (per unit
        response).
    start, end : str
        The canonical timestamps it runs between (``schema.fields.STAGE_ORDER`` names).
    start_column, end_column : str or None
        The columns of the derived table (``incidents`` or ``responses``) it is computed from;
        None when not stored.
    label : str
        For people ("Turnout (first-arriving unit)").
    basis : str
        Which unit the timestamps come from.
    description : str
    unit : str
        ``"s"``: every interval is in seconds.
    stored : bool
        Whether the store keeps it as a column (``<name>_s``); first-due and ERF intervals are
        computed from several units at query time.
    dashboard : bool
        False to leave a stored incident-level interval off the dashboard (which shows only
        those: see :attr:`on_dashboard`).
    """

    name: str
    level: str
    start: str
    end: str
    start_column: str | None
    end_column: str | None
    label: str
    basis: str
    description: str
    unit: str = "s"
    stored: bool = True
    dashboard: bool = True

    @property
    def column(self) -> str | None:
        """The stored column (``turnout_s``), or None for an interval computed at query time."""
        return f"{self.name}_{self.unit}" if self.stored else None

    @property
    def on_dashboard(self) -> bool:
        """Shown by the dashboard: a stored incident-level interval not left out on purpose."""
        return self.dashboard and self.stored and self.level == "incident"

    @property
    def table(self) -> str:
        """The derived table holding the column: ``incidents`` or ``responses``."""
        return _TABLE[self.level]


_FA = "first-arriving unit (start and end from the same unit: incidents.first_arriving_unit)"
_FD = (
    "first-due unit: the earliest-dispatched unit of the station whose area (station_layer) "
    "holds the incident"
)
_ERF = (
    "the arrival that brings the cumulative staff of units on scene to the required "
    "effective response force (staffing per unit_type)"
)


def _computed(name, start, end, label, basis, description) -> Interval:
    return Interval(name, "incident", start, end, None, None, label, basis, description,
                    stored=False)  # fmt: skip


#: The registry, in the order the metrics are listed everywhere.
INTERVALS: tuple[Interval, ...] = (
    # alarm answering needs the PSAP's call_arrived_at, which few CAD exports carry: the
    # dashboard leaves it out (the queries and reports have it)
    Interval("alarm_answering", "incident", "call_arrived_at", "call_answered_at",
             "call_arrived_at", "call_answered_at", "Alarm answering", "incident",
             "call rings at the PSAP until answered", dashboard=False),
    Interval("call_processing", "incident", "call_received_at", "dispatched_at",
             "call_received_at", "first_dispatched_at", "Call processing",
             "first unit dispatched (incidents.first_dispatched_at)",
             "call received until the first unit is dispatched"),
    Interval("turnout", "incident", "dispatched_at", "enroute_at",
             "fa_dispatched_at", "fa_enroute_at", "Turnout (first-arriving unit)", _FA,
             "first-arriving unit dispatched until it is en route"),
    Interval("travel", "incident", "enroute_at", "on_scene_at",
             "fa_enroute_at", "first_on_scene_at", "Travel (first-arriving unit)", _FA,
             "first-arriving unit en route until on scene"),
    Interval("total_response", "incident", "call_received_at", "on_scene_at",
             "call_received_at", "first_on_scene_at", "Total response",
             "first unit on scene (incidents.first_on_scene_at)",
             "call received until the first unit is on scene"),
    _computed("first_due_travel", "enroute_at", "on_scene_at", "Travel (first-due unit)", _FD,
              "first-due unit en route until on scene"),
    _computed("first_due_total_response", "call_received_at", "on_scene_at",
              "Total response (first-due unit)", _FD,
              "call received until the first-due unit is on scene"),
    _computed("erf_assembly", "call_received_at", "on_scene_at",
              "Effective response force assembly", _ERF,
              "call received until the effective response force is assembled on scene"),
    _computed("erf_travel", "enroute_at", "on_scene_at", "Effective response force travel",
              "first unit en route (incidents.first_enroute_at) until " + _ERF,
              "first unit en route until the effective response force is assembled on scene"),
    Interval("turnout", "unit", "dispatched_at", "enroute_at", "dispatched_at", "enroute_at",
             "Turnout (each unit)", "each unit", "unit dispatched until en route"),
    Interval("travel", "unit", "enroute_at", "on_scene_at", "enroute_at", "on_scene_at",
             "Travel (each unit)", "each unit", "unit en route until on scene"),
    Interval("response", "unit", "dispatched_at", "on_scene_at", "dispatched_at", "on_scene_at",
             "Response (each unit)", "each unit", "unit dispatched until on scene"),
)  # fmt: skip


def intervals(
    level: str | None = None, stored: bool | None = None, dashboard: bool | None = None
) -> list[Interval]:
    """The registry's entries, in order: all, or those of one level / stored or not / shown on
    the dashboard or not. Read at call time, so a patched registry is seen everywhere."""
    out = []
    for iv in INTERVALS:
        if level is not None and iv.level != level:
            continue
        if stored is not None and iv.stored != stored:
            continue
        if dashboard is not None and iv.on_dashboard != dashboard:
            continue
        out.append(iv)
    return out


def interval_names(level: str | None = None, stored: bool | None = None) -> list[str]:
    """Metric names, in registry order, without repeats (of one level, or all)."""
    seen: list[str] = []
    for iv in intervals(level, stored):
        if iv.name not in seen:
            seen.append(iv.name)
    return seen


def find_interval(name: str, level: str = "incident") -> Interval | None:
    """The entry for (name, level), or None."""
    return next((iv for iv in INTERVALS if iv.name == name and iv.level == level), None)


def get_interval(name: str, level: str = "incident") -> Interval:
    """The entry for (name, level).

    Raises
    ------
    MetricError
        Unknown level, unknown metric, or a metric not available at that level; the message
        lists the valid choices.
    """
    if level not in LEVELS:
        raise MetricError(f"unknown level {level!r}; valid levels: {', '.join(LEVELS)}")
    iv = find_interval(name, level)
    if iv is not None:
        return iv
    if name in interval_names():
        other = [x.level for x in INTERVALS if x.name == name]
        raise MetricError(
            f"metric {name!r} is not available at level {level!r} (only {', '.join(other)}); "
            f"{level}-level metrics: {', '.join(interval_names(level))}"
        )
    raise MetricError(
        f"unknown metric {name!r}; valid metrics: incident level "
        f"{', '.join(interval_names('incident'))}; unit level {', '.join(interval_names('unit'))}"
    )
