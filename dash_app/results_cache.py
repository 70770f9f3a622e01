"""The dashboard's results, computed once per data version for every worker and thread.

Most viewers look at the same view (the default filters), and every server worker would
otherwise compute the same percentiles over the same rows. A result of one of the plain
functions of :mod:`dash_app.stats` (a Polars frame, or dicts / lists / tuples of frames and
plain values) is stored in one file per (data version, function name, arguments) under
``<data dir>/cache/dashboard/results/<version digest>/``:

- computed once: under an exclusive ``fcntl`` lock on the key's lock file, so 20 users (in
  any worker process or thread) asking at once cause one computation; the others wait for
  it and read the file;
- written to a temporary name, then renamed: a reader sees a whole file or none;
- checked when read (a header with the body's length and SHA-256): a partial or corrupt
  file is recomputed and replaced, never served;
- frames as Arrow IPC (their exact dtypes), the structure around them as JSON;
- a new data version gets a new folder; the older versions' folders are removed with the
  older snapshot files (:meth:`dash_app.data.DataSource` does both under its build lock).

Why not ``flask-caching``'s ``FileSystemCache``: it pickles values (a file anyone who can
write the data dir could turn into code), has no compute-once lock (20 users asking at once
would compute 20 times), and evicts by count rather than by data version.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import io
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl

__all__ = [
    "ResultsCache",
    "encode",
    "decode",
    "results_root",
    "remove_other_versions",
    "shared",
    "version_digest",
]

_log = logging.getLogger(__name__)
_MAGIC = b"DARESULT1\n"
_MISSING = object()


def results_root(cache_dir: Path) -> Path:
    """The folder of every version's results (``<cache dir>/results``)."""
    return cache_dir / "results"


def version_digest(version: str) -> str:
    """The short digest naming a data version's files (its snapshot and its results)."""
    return hashlib.sha256(version.encode()).hexdigest()[:16]


def remove_other_versions(cache_dir: Path, version: str) -> None:
    """Remove every version's results folder but ``version``'s (call under the build lock)."""
    root = results_root(cache_dir)
    if not root.exists():
        return
    keep = version_digest(version)
    for d in root.iterdir():
        if d.is_dir() and d.name != keep:
            shutil.rmtree(d, ignore_errors=True)


class _Unsupported(TypeError):
    pass


# ---------------------------------------------------------------------------------- codec
def _tree(v, frames: list[bytes]):
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return {"f": repr(v)}  # NaN / inf and the exact value survive JSON
    if isinstance(v, pl.DataFrame):
        buf = io.BytesIO()
        v.write_ipc(buf)
        frames.append(buf.getvalue())
        return {"df": len(frames) - 1}
    if isinstance(v, Decimal):
        return {"dec": str(v)}
    if isinstance(v, datetime):
        return {"dt": v.isoformat()}
    if isinstance(v, date):
        return {"date": v.isoformat()}
    if isinstance(v, tuple):
        return {"t": [_tree(x, frames) for x in v]}
    if isinstance(v, list):
        return {"l": [_tree(x, frames) for x in v]}
    if isinstance(v, dict):
        return {"d": [[_tree(k, frames), _tree(x, frames)] for k, x in v.items()]}
    raise _Unsupported(f"cannot store a {type(v).__name__} in the results cache")


def _untree(t, frames: list[pl.DataFrame]):
    if t is None or isinstance(t, (bool, int, str)):
        return t
    ((kind, x),) = t.items()
    if kind == "f":
        return float(x)
    if kind == "df":
        return frames[x]
    if kind == "dec":
        return Decimal(x)
    if kind == "dt":
        return datetime.fromisoformat(x)
    if kind == "date":
        return date.fromisoformat(x)
    if kind == "t":
        return tuple(_untree(y, frames) for y in x)
    if kind == "l":
        return [_untree(y, frames) for y in x]
    if kind == "d":
        return {_untree(k, frames): _untree(y, frames) for k, y in x}
    raise ValueError(f"unknown tag {kind!r}")


def encode(value) -> bytes:
    """A result as bytes: a magic line, a JSON header (the structure, the frames' sizes, the
    body's SHA-256) and the frames as Arrow IPC. Raises TypeError for a value it cannot
    store exactly (the caller then computes without storing)."""
    frames: list[bytes] = []
    tree = _tree(value, frames)
    body = b"".join(frames)
    header = json.dumps(
        {
            "tree": tree,
            "sizes": [len(f) for f in frames],
            "sha256": hashlib.sha256(body).hexdigest(),
        }
    ).encode()
    return _MAGIC + len(header).to_bytes(8, "little") + header + body


def decode(data: bytes):
    """The value :func:`encode` wrote. Raises ValueError when the bytes are not a whole,
    intact result (truncated, corrupt, another format)."""
    if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + 8:
        raise ValueError("not a results-cache file")
    at = len(_MAGIC)
    hlen = int.from_bytes(data[at : at + 8], "little")
    at += 8
    try:
        header = json.loads(data[at : at + hlen])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"corrupt header: {exc}") from None
    body = data[at + hlen :]
    if len(body) != sum(header["sizes"]) or hashlib.sha256(body).hexdigest() != header["sha256"]:
        raise ValueError("truncated or corrupt body")
    frames, pos = [], 0
    for size in header["sizes"]:
        frames.append(pl.read_ipc(io.BytesIO(body[pos : pos + size])))
        pos += size
    return _untree(header["tree"], frames)


# ---------------------------------------------------------------------------------- cache
class ResultsCache:
    """The result files of one data version, shared by every process and thread.

    Parameters
    ----------
    cache_dir : Path
        The dashboard's cache folder (``<data dir>/cache/dashboard``).
    version : str
        The data version the results are of.
    current : callable, optional
        True while ``version`` is the store's current one (its snapshot file exists): a
        result of a version already replaced is not written (its folder was removed).

    Attributes
    ----------
    folder : Path
        ``<cache dir>/results/<version digest>``.
    computed, read, skipped : int
        Results this process computed, read from a file another process or thread wrote,
        and computed without storing (a value the codec cannot store exactly).
    """

    def __init__(self, cache_dir: Path, version: str, current: Callable[[], bool] | None = None):
        self.version = version
        self.folder = results_root(cache_dir) / version_digest(version)
        self._current = current or (lambda: True)
        self._stats_lock = threading.Lock()
        self.computed = self.read = self.skipped = 0

    def path(self, name: str, args) -> Path:
        """The file of ``name(*args)``: the function's name and a digest of the arguments'
        ``repr`` (frozen dataclasses, tuples, numbers and text: the same in every process)."""
        digest = hashlib.sha256(repr((self.version, name, args)).encode()).hexdigest()[:32]
        return self.folder / f"{name}-{digest}.result"

    def _load(self, path: Path):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return _MISSING
        try:
            return decode(data)
        except (ValueError, KeyError, TypeError, OSError, pl.exceptions.PolarsError) as exc:
            _log.warning("results cache: %s is unreadable (%s); recomputing", path.name, exc)
            return _MISSING

    def _count(self, what: str) -> None:
        with self._stats_lock:
            setattr(self, what, getattr(self, what) + 1)

    def get(self, name: str, args, build: Callable[[], object]):
        """``name(*args)``'s stored result, computing it with ``build()`` (once for every
        process and thread: under the key's lock) when no intact file holds it."""
        path = self.path(name, args)
        value = self._load(path)
        if value is not _MISSING:
            self._count("read")
            return value
        if not self.folder.exists():
            if not self._current():
                return build()  # a replaced version: its folder is gone for good
            self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            value = self._load(path)  # another process or thread computed it meanwhile
            if value is not _MISSING:
                self._count("read")
                return value
            value = build()
            self._count("computed")
            self._store(path, value)
            return value
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _store(self, path: Path, value) -> None:
        try:
            data = encode(value)
        except _Unsupported as exc:
            _log.warning("results cache: %s not stored (%s)", path.name, exc)
            self._count("skipped")
            return
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError as exc:  # the folder was removed (a new version): nothing to keep
            tmp.unlink(missing_ok=True)
            _log.info("results cache: %s not stored (%s)", path.name, exc)


def _freeze(v):
    """A hashable stand-in for an argument with the same repr in every process: dicts and
    lists as tuples, a dataclass (``Filters``) as its compared fields (what its equality
    means: the profile's provenance and the per-agency defaults do not change a result).
    :class:`~dash_app.filters.Filters` are keyed by the rows they select (their
    :func:`~dash_app.filters.where_sql`): the layer and the profile in the URL do not change
    which incidents a question is over, so ``?layer=a`` and ``?layer=b`` share one result.
    A shared function therefore reads a Filters' rows only (its layer, metric or targets
    are separate arguments)."""
    from .filters import Filters, where_sql

    if isinstance(v, Filters):
        sql, params = where_sql(v)
        return ("Filters", sql, _freeze(params))
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return (
            type(v).__name__,
            tuple(
                (fl.name, _freeze(getattr(v, fl.name)))
                for fl in dataclasses.fields(v)
                if fl.compare
            ),
        )
    if isinstance(v, dict):
        return ("dict", tuple((_freeze(k), _freeze(x)) for k, x in v.items()))
    if isinstance(v, (list, tuple)):
        return tuple(_freeze(x) for x in v)
    return v


def shared(name: str):
    """Decorate a plain function ``fn(snap, *args)`` of the dashboard so that its result is
    computed once per data version for every worker and thread (``snap.shared``: this
    process's memo, then the version's result file, else computed under the key's lock).
    Keyword and default arguments are bound first, so ``fn(s, f, pct=90)`` and ``fn(s, f)``
    share one result."""
    import functools
    import inspect

    def wrap(fn):
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def inner(snap, *args, **kw):
            bound = sig.bind(snap, *args, **kw)
            bound.apply_defaults()
            key = tuple(_freeze(v) for v in tuple(bound.arguments.values())[1:])
            return snap.shared(name, key, lambda: fn(snap, *args, **kw))

        inner.uncached = fn  # the direct computation (tests compare the two)
        return inner

    return wrap
