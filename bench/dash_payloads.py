"""The JSON the dashboard's browser code posts to ``/_dash-update-component`` (for the load
test's locust users and bench_serve.py), over the filter sets of bench_dash.py."""

from __future__ import annotations

import os

LAYER = os.environ.get("BENCH_LAYER", "neighborhoods")
SEARCHES = [
    f"?layer={LAYER}",
    f"?layer={LAYER}&cat=ems",
    f"?layer={LAYER}&cat=fire&pri=1",
    f"?layer={LAYER}&from=2023-03-01&to=2023-05-31",
    f"?layer={LAYER}&type=Structure%20Fire",
]


def body(outputs: list[tuple[str, str]], inputs: list[tuple[str, str, object]]) -> dict:
    """The JSON Dash's browser code posts to ``/_dash-update-component``."""
    outs = [{"id": i, "property": p} for i, p in outputs]
    if len(outs) == 1:
        output, outs_field = f"{outputs[0][0]}.{outputs[0][1]}", outs[0]
    else:
        output = ".." + "...".join(f"{i}.{p}" for i, p in outputs) + ".."
        outs_field = outs
    return {
        "output": output,
        "outputs": outs_field,
        "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
        "changedPropIds": [f"{inputs[0][0]}.{inputs[0][1]}"],
        "state": [],
    }


def frame(search: str, version) -> list[tuple[str, str, object]]:
    return [("url", "search", search), ("data-version", "data", version)]


#: the map page's controls as it opens: (component, property, value)
MAP_DEFAULTS = [
    ("map-value", "value", "p"),
    ("map-metric", "value", "total_response"),
    ("hex-value", "value", "volume"),
    ("selected-zone", "data", None),
]
