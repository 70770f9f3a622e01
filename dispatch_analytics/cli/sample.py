"""Command `sample`: the synthetic city."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .common import (
    out,
)

__all__ = ["register"]


def sample_cmd(
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Folder to write the city into.")
    ] = Path("sample_data/city"),
    incidents: Annotated[
        int, typer.Option("--incidents", "-n", help="Number of incidents.")
    ] = 5000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same files).")] = 0,
) -> None:
    """Write a realistic synthetic city: stations, station areas, battalions, incidents.

    Example:  dispatch sample --out /tmp/city --incidents 20000 --seed 7
    """
    from ..sample.city import generate_city

    city = generate_city(out_dir, n_incidents=incidents, seed=seed)
    t = Table(title=f"Synthetic city in {city.out_dir}", show_header=False)
    t.add_column("what")
    t.add_column("value")
    t.add_row("incidents", f"{city.n_incidents:,}")
    t.add_row("unit rows", f"{city.n_rows:,}")
    t.add_row("planted dirty rows", f"{sum(city.planted.values()):,}")
    for p in (
        city.incidents_csv,
        city.mapping_toml,
        city.stations_geojson,
        city.station_areas_geojson,
        city.battalions_geojson,
        city.readme,
    ):
        t.add_row("file", str(p))
    out.print(t)
    out.print(f"ingest it with: dispatch ingest {city.incidents_csv} --mapping {city.mapping_toml}")


def register(app: typer.Typer) -> None:
    """Add the commands of this module to ``app``."""
    app.command("sample")(sample_cmd)
