"""The package version (layer 0: every module may import it)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
