"""Each agency's standards profile: the ``[agencies."NAME"] standards = "..."`` tables of a
config TOML, read once here for ``dispatch report --config`` (``--profile`` omitted) and the
dashboard (switching agency switches the profile)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..errors import StandardError
from .standards import _resolve_path
from .standards_toml import read_overrides

__all__ = ["DEFAULT_PROFILE", "agency_profiles", "agency_standard"]

#: the profile used when neither ``--profile`` nor the agency's configuration names one
DEFAULT_PROFILE = "nfpa1710"


def agency_profiles(config: str | os.PathLike | dict | None) -> dict[str, str]:
    """Each agency's standards profile from a config TOML's ``[agencies]`` table::

        [agencies."SFFD"]
        standards = "nfpa1710"
        [agencies."County Volunteer FD"]
        standards = "nfpa1720"

    The same file can hold the ``[targets]`` overrides of :func:`load_standard` (``dispatch
    report --config``) and the dashboard's ``[dashboard]`` settings.

    Parameters
    ----------
    config : path, dict or None
        The config TOML, or its parsed dict (None: no mapping).

    Returns
    -------
    dict of str to str
        Agency -> profile name or path, in file order.

    Raises
    ------
    StandardError
        A missing or invalid file, a table that is not ``standards = "..."``, or an unknown
        profile; every problem at once, each naming the agency and the fix.
    """
    if config is None:
        return {}
    raw, where = read_overrides(config)
    table = raw.get("agencies", {})
    if not isinstance(table, dict):
        raise StandardError(f'{where}: [agencies] must hold tables like [agencies."SFFD"]')
    out: dict[str, str] = {}
    problems: list[str] = []
    for agency, d in table.items():
        w = f'[agencies."{agency}"]'
        if not isinstance(d, dict) or set(d) - {"standards"}:
            bad = sorted(set(d) - {"standards"}) if isinstance(d, dict) else [repr(d)]
            problems.append(
                f"{w}: unknown key {', '.join(bad)}; valid key: standards (e.g. standards = "
                '"nfpa1710")'
            )
            continue
        name = d.get("standards")
        if not isinstance(name, str) or not name.strip():
            problems.append(f'{w}: `standards` must be a profile name, e.g. standards = "nfpa1720"')
            continue
        try:
            _resolve_path(name)
        except StandardError as exc:
            problems.append(f"{w}: {exc}")
            continue
        out[str(agency)] = name
    if problems:
        raise StandardError(f"{where}: " + "; ".join(problems))
    return out


def agency_standard(
    agency: str | list[str] | tuple[str, ...] | None,
    config: str | os.PathLike | dict | Mapping[str, str] | None = None,
    default: str = DEFAULT_PROFILE,
) -> str:
    """The standards profile of an agency (or of agencies taken together): its
    ``[agencies."NAME"] standards`` in ``config``, else ``default``.

    Parameters
    ----------
    agency : str, list of str or None
        The agency; several: their common profile; None: ``default``.
    config : path, dict or mapping, optional
        A config TOML (see :func:`agency_profiles`) or an agency -> profile mapping.
    default : str
        The profile of agencies the config does not name.

    Returns
    -------
    str
        A profile name or path.

    Raises
    ------
    StandardError
        Several agencies whose configured profiles differ (pass a profile explicitly), or an
        invalid config.
    """
    if isinstance(config, Mapping) and all(isinstance(v, str) for v in config.values()):
        mapping = dict(config)  # agency -> profile already
    else:
        mapping = agency_profiles(config)  # type: ignore[arg-type]
    if agency is None:
        return default
    names = [agency] if isinstance(agency, str) else list(agency)
    profiles = {a: mapping.get(a, default) for a in names}
    if len(set(profiles.values())) > 1:
        listing = ", ".join(f"{a}: {p}" for a, p in profiles.items())
        raise StandardError(
            f"the agencies taken together have different standards profiles ({listing}); "
            "choose one with `--profile NAME` (or report them one agency at a time)"
        )
    return next(iter(profiles.values()), default)
