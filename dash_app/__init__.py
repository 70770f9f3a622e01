"""The dispatch-analytics dashboard (Dash). Built by :func:`create_app`; imports the library.

Importing the package is cheap (Dash loads on first use of :func:`create_app`), so the
``dispatch`` CLI can register ``dispatch serve`` without loading the dashboard.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["create_app", "DashConfig", "load_config"]

if TYPE_CHECKING:  # pragma: no cover
    from .app import create_app
    from .config import DashConfig, load_config


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    if name in ("DashConfig", "load_config"):
        from . import config

        return getattr(config, name)
    raise AttributeError(f"module 'dash_app' has no attribute {name!r}")
