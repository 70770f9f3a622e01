"""The canonical fields: names are the contract with analysts (README, "Views").

Every layer may import this module; it imports nothing of the package.
"""

from __future__ import annotations

__all__ = [
    "ID_FIELDS",
    "AGENCY_FIELD",
    "TEXT_FIELDS",
    "STAGE_ORDER",
    "TIME_FIELDS",
    "RESPONSE_STAGES",
    "COORD_FIELDS",
    "CANONICAL_FIELDS",
    "CATEGORIES",
    "EVENT_FIELDS",
]

ID_FIELDS = ("incident_id", "unit_id")
#: The agency a call belongs to: with ``incident_id`` the key of an incident (two agencies of
#: one store may use the same incident numbers).
AGENCY_FIELD = "agency"
TEXT_FIELDS = (
    "agency",
    "unit_type",
    "station_id",
    "call_type",
    "call_category",
    "priority",
    "address",
    "zipcode",
)
#: Every timestamp field, in the order the stages of a call happen. Validation requires each
#: present stage to be at or after every present stage before it in this list.
STAGE_ORDER = (
    "call_arrived_at",
    "call_answered_at",
    "call_received_at",
    "call_entered_at",
    "dispatched_at",
    "acknowledged_at",
    "enroute_at",
    "staged_at",
    "on_scene_at",
    "at_patient_at",
    "transport_at",
    "at_hospital_at",
    "transfer_at",
    "cleared_at",
)
TIME_FIELDS = STAGE_ORDER
#: Stages up to arrival: gaps between these are checked against ``max_interval_s``.
RESPONSE_STAGES = STAGE_ORDER[: STAGE_ORDER.index("on_scene_at") + 1]
COORD_FIELDS = ("latitude", "longitude")
#: ``location`` is a pseudo-field: one text column holding "(lat, lon)" (or "POINT (lon lat)").
#: Status-log (``grain = "event"``) pseudo-fields: the status code of a row and when it was set.
EVENT_FIELDS = ("status", "status_at")
CANONICAL_FIELDS = (
    ID_FIELDS + TEXT_FIELDS + TIME_FIELDS + COORD_FIELDS + ("location",) + EVENT_FIELDS
)
CATEGORIES = ("ems", "fire", "other")
