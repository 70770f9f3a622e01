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
    start_column: str | None = None
    end_column: str | None = None
    label: str = ""
    basis: str = ""
    description: str = ""
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


#: The registry, in the order the metrics are listed everywhere.
INTERVALS: tuple[Interval, ...] = (
    # alarm answering needs the PSAP's call_arrived_at, which few CAD exports carry: the
    # dashboard leaves it out (the queries and reports have it)
    Interval(
        name="alarm_answering",
        level="incident",
        start="call_arrived_at",
        end="call_answered_at",
        start_column="call_arrived_at",
        end_column="call_answered_at",
        label="Alarm answering",
        basis="incident",
        description="call rings at the PSAP until answered",
        dashboard=False,
    ),
    Interval(
        name="call_processing",
        level="incident",
        start="call_received_at",
        end="dispatched_at",
        start_column="call_received_at",
        end_column="first_dispatched_at",
        label="Call processing",
        basis="first unit dispatched (incidents.first_dispatched_at)",
        description="call received until the first unit is dispatched",
    ),
    Interval(
        name="turnout",
        level="incident",
        start="dispatched_at",
        end="enroute_at",
        start_column="fa_dispatched_at",
        end_column="fa_enroute_at",
        label="Turnout (first-arriving unit)",
        basis=_FA,
        description="first-arriving unit dispatched until it is en route",
    ),
    Interval(
        name="travel",
        level="incident",
        start="enroute_at",
        end="on_scene_at",
        start_column="fa_enroute_at",
        end_column="first_on_scene_at",
        label="Travel (first-arriving unit)",
        basis=_FA,
        description="first-arriving unit en route until on scene",
    ),
    Interval(
        name="total_response",
        level="incident",
        start="call_received_at",
        end="on_scene_at",
        start_column="call_received_at",
        end_column="first_on_scene_at",
        label="Total response",
        basis="first unit on scene (incidents.first_on_scene_at)",
        description="call received until the first unit is on scene",
    ),
    # computed from several unit rows by Fractiles (no column)
    Interval(
        name="first_due_travel",
        level="incident",
        start="enroute_at",
        end="on_scene_at",
        label="Travel (first-due unit)",
        basis=_FD,
        description="first-due unit en route until on scene",
        stored=False,
    ),
    Interval(
        name="first_due_total_response",
        level="incident",
        start="call_received_at",
        end="on_scene_at",
        label="Total response (first-due unit)",
        basis=_FD,
        description="call received until the first-due unit is on scene",
        stored=False,
    ),
    Interval(
        name="erf_assembly",
        level="incident",
        start="call_received_at",
        end="on_scene_at",
        label="Effective response force assembly",
        basis=_ERF,
        description="call received until the effective response force is assembled on scene",
        stored=False,
    ),
    Interval(
        name="erf_travel",
        level="incident",
        start="enroute_at",
        end="on_scene_at",
        label="Effective response force travel",
        basis="first unit en route (incidents.first_enroute_at) until " + _ERF,
        description="first unit en route until the effective response force is assembled on scene",
        stored=False,
    ),
    Interval(
        name="turnout",
        level="unit",
        start="dispatched_at",
        end="enroute_at",
        start_column="dispatched_at",
        end_column="enroute_at",
        label="Turnout (each unit)",
        basis="each unit",
        description="unit dispatched until en route",
    ),
    Interval(
        name="travel",
        level="unit",
        start="enroute_at",
        end="on_scene_at",
        start_column="enroute_at",
        end_column="on_scene_at",
        label="Travel (each unit)",
        basis="each unit",
        description="unit en route until on scene",
    ),
    Interval(
        name="response",
        level="unit",
        start="dispatched_at",
        end="on_scene_at",
        start_column="dispatched_at",
        end_column="on_scene_at",
        label="Response (each unit)",
        basis="each unit",
        description="unit dispatched until on scene",
    ),
)


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
