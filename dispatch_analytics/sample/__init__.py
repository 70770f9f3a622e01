"""A realistic synthetic city for demos and tests (see :mod:`.city`).

:func:`generate_city` writes a unit-grain CAD export, its mapping TOML, station / station
area / battalion GeoJSON layers and a README into a directory; one seed always gives
byte-identical files.
"""

from .city import (
    AGENCY,
    CALL_TYPES,
    CENTER_LONLAT,
    CSV_COLUMNS,
    EMS_TYPES,
    FIRE_TYPES,
    MAX_INCIDENTS,
    OTHER_TYPES,
    PLANTED_REASONS,
    PLANTED_SHARE,
    TIMESTAMP_FORMAT,
    TIMEZONE,
    CallType,
    SampleCity,
    SampleError,
    generate_city,
    mapping_toml,
)

__all__ = [
    "generate_city",
    "SampleCity",
    "SampleError",
    "mapping_toml",
    "TIMEZONE",
    "AGENCY",
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
]
