"""Constants of the sample city: file layout, time zone, call types and planted problems."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "TIMEZONE",
    "TIMESTAMP_FORMAT",
    "CENTER_LONLAT",
    "CSV_COLUMNS",
    "CallType",
    "CALL_TYPES",
    "EMS_TYPES",
    "FIRE_TYPES",
    "OTHER_TYPES",
    "PLANTED_REASONS",
    "PLANTED_SHARE",
    "MAX_INCIDENTS",
    # used by the other modules of the package
    "_MAX_INTERVAL_S",
    "_MAX_DAYS",
    "_TIME_COLUMNS",
    "_UNIT_TYPES",
    "_UNIT_TYPE_LABELS",
    "_N_STATIONS",
    "_N_BATTALIONS",
    "_TYPE_INDEX",
]

#: IANA zone of the sample city; CSV times are local wall-clock readings in this zone.
TIMEZONE = "America/Chicago"
#: strftime format of every time column in the CSV (zero-padded).
TIMESTAMP_FORMAT = "%m/%d/%Y %H:%M:%S"
#: (longitude, latitude) of the city centre (downtown Austin, TX).
CENTER_LONLAT = (-97.74, 30.27)
#: Columns of the CAD export, in file order.
CSV_COLUMNS = (
    "INC_NO",
    "UNIT",
    "UNIT_TYPE",
    "STATION",
    "NATURE",
    "PRI",
    "T_RCVD",
    "T_DISP",
    "T_ENRT",
    "T_ARRV",
    "T_TRANS",
    "T_HOSP",
    "T_CLR",
    "LAT",
    "LON",
)
#: Target share of planted dirty rows (all reasons together) among the data rows.
PLANTED_SHARE = 0.02
#: Largest accepted ``n_incidents`` (about 1.9 rows per incident are written).
MAX_INCIDENTS = 2_000_000
#: Reject reasons of the planted dirty rows, in the order of ``SampleCity.planted``.
PLANTED_REASONS = (
    "unparseable_time",
    "missing_id",
    "stage_order",
    "interval_too_long",
    "missing_coordinates",
    "zero_coordinates",
    "coordinates_out_of_range",
    "duplicate_row",
    "nonexistent_local_time",
)

_MAX_INTERVAL_S = 21600
_MAX_DAYS = 3660
_TIME_COLUMNS = ("T_RCVD", "T_DISP", "T_ENRT", "T_ARRV", "T_TRANS", "T_HOSP", "T_CLR")
_CATEGORY_NAMES = ("ems", "fire", "other")
_UNIT_TYPES = ("E", "M", "T", "B")  # engine, medic, truck, battalion chief
_UNIT_TYPE_LABELS = ("ENGINE", "MEDIC", "TRUCK", "CHIEF")
_N_STATIONS = 12
_N_BATTALIONS = 3


#: one unit sent: (unit type, probability, or "p1" = only for priority 1 calls)
_Slot = tuple[str, float | Literal["p1"]]


@dataclass(frozen=True)
class CallType:
    """One call type (``NATURE``) of the sample city and how it is answered."""

    name: str
    category: int  # index into _CATEGORY_NAMES
    share: float
    priority_p: tuple[float, float, float]
    on_scene_min: float  # median on-scene minutes of the first unit
    slots: tuple[_Slot, ...]


_CT = CallType
_EMS_SLOTS: tuple[_Slot, ...] = (("M", 1.0), ("E", "p1"))
#: Call types with category, share of calls, priority mix, median on-scene time and the
#: units sent (one slot per unit; ``"p1"`` = only for priority 1 calls).
CALL_TYPES: tuple[CallType, ...] = (
    _CT("Medical Emergency", 0, 0.28, (0.25, 0.50, 0.25), 18, _EMS_SLOTS),
    _CT("Fall", 0, 0.10, (0.05, 0.55, 0.40), 18, _EMS_SLOTS),
    _CT("Breathing Problem", 0, 0.09, (0.65, 0.30, 0.05), 20, _EMS_SLOTS),
    _CT("Chest Pain", 0, 0.07, (0.70, 0.25, 0.05), 20, _EMS_SLOTS),
    _CT("Unconscious Person", 0, 0.04, (0.75, 0.20, 0.05), 18, _EMS_SLOTS),
    _CT("Overdose", 0, 0.03, (0.55, 0.40, 0.05), 16, _EMS_SLOTS),
    _CT("Stroke", 0, 0.02, (0.80, 0.20, 0.0), 16, _EMS_SLOTS),
    _CT("Cardiac Arrest", 0, 0.02, (1.0, 0.0, 0.0), 30, (("M", 1.0), ("E", 1.0), ("M", 0.5))),
    _CT("Alarm Activation", 1, 0.10, (0.0, 0.40, 0.60), 12, (("E", 1.0), ("T", 1.0))),
    _CT(
        "Structure Fire",
        1,
        0.03,
        (1.0, 0.0, 0.0),
        75,
        (("E", 1.0), ("E", 1.0), ("T", 1.0), ("B", 1.0)),
    ),
    _CT("Vehicle Fire", 1, 0.025, (0.30, 0.70, 0.0), 25, (("E", 1.0), ("M", 1.0))),
    _CT("Brush Fire", 1, 0.02, (0.40, 0.60, 0.0), 45, (("E", 1.0), ("E", 1.0), ("B", 0.3))),
    _CT("Outside Fire", 1, 0.015, (0.10, 0.60, 0.30), 20, (("E", 1.0), ("E", 1.0))),
    _CT("Smoke Investigation", 1, 0.01, (0.20, 0.60, 0.20), 15, (("E", 1.0), ("T", 1.0))),
    _CT(
        "Traffic Collision", 2, 0.08, (0.30, 0.60, 0.10), 25, (("E", 1.0), ("M", 1.0), ("M", 0.15))
    ),
    _CT("Public Assist", 2, 0.035, (0.0, 0.20, 0.80), 15, (("E", 1.0),)),
    _CT("Gas Leak", 2, 0.015, (0.30, 0.60, 0.10), 30, (("E", 1.0), ("T", 1.0))),
    _CT("Hazmat", 2, 0.01, (0.50, 0.50, 0.0), 60, (("E", 1.0), ("T", 1.0), ("B", 1.0))),
    _CT("Rescue", 2, 0.01, (0.60, 0.40, 0.0), 40, (("E", 1.0), ("T", 1.0), ("M", 1.0))),
)
#: Call types (NATURE values) per category.
EMS_TYPES = tuple(c.name for c in CALL_TYPES if c.category == 0)
FIRE_TYPES = tuple(c.name for c in CALL_TYPES if c.category == 1)
OTHER_TYPES = tuple(c.name for c in CALL_TYPES if c.category == 2)
_TYPE_INDEX = {c.name: i for i, c in enumerate(CALL_TYPES)}
