"""Watching a drop folder: ingest each export file once it is complete, each content once.

A file is *complete* when two looks see the same size and modification time: the look of
the previous cycle (kept in the feed state) or, for a file new or changed since, a second
look ``settle_s`` seconds later in the same cycle. A complete file is ingested through
:func:`dispatch_analytics.api.ingest` (one atomic batch) and recorded in the state with its
size, modification time, SHA-256 and batch id, so a restarted watcher ingests nothing twice.

A file that grows (a CAD export appended to) is ingested again once stable: its old rows
are rejected as ``duplicate_row`` (the store's row hash) and its new rows are accepted; a
newer record of the same unit response supersedes the older one in every view. A file that
fails is recorded with the error and not retried until it changes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..api import ingest
from ..errors import DispatchError, StoreError
from ..ingest.profiles import SourceProfile
from ..io.dropfolder import FileLook, file_sha256, scan_folder
from ..store import Store
from .state import CycleReport, feed_key, load_state, save_state, state_path, utc_now

__all__ = ["FolderWatch"]


class FolderWatch:
    """A drop folder fed into a store.

    Build it with :meth:`from_dir`; call :meth:`cycle` once per look (the command
    ``dispatch watch DIR`` calls it every ``--interval-s``).

    Attributes
    ----------
    folder : Path
    profile : SourceProfile
    store : Store
    pattern : str
    settle_s : float
    state_file : Path
    state : dict
        ``files`` (name -> size, mtime_ns, sha256, batch_id, status, error) and ``looks``
        (name -> [size, mtime_ns] of the last look at a file not yet ingested).
    """

    kind = "folder"

    def __init__(
        self,
        folder: Path,
        profile: SourceProfile,
        store: Store,
        pattern: str = "*",
        settle_s: float = 2.0,
        h3_resolution: int | None = 8,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.folder = folder
        self.profile = profile
        self.store = store
        self.pattern = pattern
        self.settle_s = settle_s
        self.h3_resolution = h3_resolution
        self._sleep = sleep
        self.name = str(folder)
        key = feed_key("folder", str(folder), profile.name, pattern)
        self.state_file = state_path(store.root, key)
        self.state: dict[str, Any] = load_state(self.state_file) or {
            "kind": "folder",
            "feed": self.name,
            "profile": profile.name,
            "pattern": pattern,
            "files": {},
            "looks": {},
        }

    @classmethod
    def from_dir(
        cls,
        folder: str | os.PathLike,
        profile: SourceProfile,
        data_dir: str | os.PathLike | None = None,
        pattern: str = "*",
        settle_s: float = 2.0,
        h3_resolution: int | None = 8,
        agency: str | None = None,
    ) -> FolderWatch:
        """A watcher of ``folder`` ingesting with ``profile`` into the store at ``data_dir``.

        Parameters
        ----------
        folder : path
            The drop folder (must exist); sub-folders are not watched.
        profile : SourceProfile
            From :func:`dispatch_analytics.load_profile`.
        data_dir : path, optional
            The store (created if missing).
        pattern : str
            Glob on file names (``*.csv``); hidden and partial files (``*.part``,
            ``*.tmp``) are always skipped.
        settle_s : float
            Seconds between the two looks at a new or changed file within one cycle; 0
            leaves the second look to the next cycle.
        h3_resolution : int or None
            Passed to :func:`dispatch_analytics.ingest`.
        agency : str, optional
            Reserved for several agencies in one store; only None is accepted yet (the
            profile's ``[source] agency`` decides the rows' agency).

        Returns
        -------
        FolderWatch

        Raises
        ------
        FeedError
            ``folder`` is not a folder, or its state file is unusable.
        """
        from ..errors import FeedError

        problems = []
        if agency is not None:
            problems.append("`agency` must be None (the profile's `[source] agency` sets it)")
        if settle_s < 0:
            problems.append(f"`settle_s` must be >= 0, got {settle_s}")
        root = Path(folder).expanduser()
        if not root.is_dir():
            problems.append(f"drop folder {root} does not exist or is not a folder; create it")
        if problems:
            raise FeedError("; ".join(problems))
        return cls(root.resolve(), profile, Store(data_dir), pattern, settle_s, h3_resolution)

    # ------------------------------------------------------------------ one cycle
    def cycle(self) -> CycleReport:
        """Look at the folder once; ingest every file that is complete and new or changed.

        Returns
        -------
        CycleReport

        Raises
        ------
        FeedError
            The folder cannot be listed (a bad file never raises: it is reported).
        """
        t0 = time.perf_counter()
        rep = CycleReport(feed=self.name, kind=self.kind)
        looks = scan_folder(self.folder, self.pattern)
        rep.seen = len(looks)
        files, prev = self.state["files"], self.state["looks"]
        todo = [lk for lk in looks if _stamp(files.get(lk.path.name)) != list(lk.stamp)]
        stable = [lk for lk in todo if prev.get(lk.path.name) == list(lk.stamp)]
        unsure = [lk for lk in todo if prev.get(lk.path.name) != list(lk.stamp)]
        if unsure and self.settle_s > 0:
            self._sleep(self.settle_s)
            again = [_relook(lk) for lk in unsure]
            stable += [b for a, b in zip(unsure, again, strict=True) if b and b.stamp == a.stamp]
            unsure = [b for a, b in zip(unsure, again, strict=True) if b and b.stamp != a.stamp]
        # the looks to compare with next cycle: files still changing (complete ones are
        # added back by _ingest_one until recorded)
        self.state["looks"] = {lk.path.name: list(lk.stamp) for lk in unsure}
        rep.waiting = len(unsure)
        for lk in sorted(stable, key=lambda x: (x.mtime_ns, x.path.name)):
            self._ingest_one(lk, rep)
            self._save(rep, final=False)
        rep.seconds = time.perf_counter() - t0
        self._save(rep, final=True)
        return rep

    def _ingest_one(self, lk: FileLook, rep: CycleReport) -> None:
        """Ingest one complete file; record it (or its error) in the state."""
        name, files, looks = lk.path.name, self.state["files"], self.state["looks"]
        looks[name] = list(lk.stamp)  # until recorded below, the next cycle looks again
        try:
            sha = file_sha256(lk.path)
        except OSError as exc:  # removed or unreadable since the look: try again next cycle
            rep.errors.append(f"{name}: cannot read: {exc}")
            return
        old = files.get(name)
        if old and old.get("sha256") == sha:  # touched, same content
            files[name] = old | {"size": lk.size, "mtime_ns": lk.mtime_ns}
            looks.pop(name, None)
            rep.unchanged += 1
            return
        entry: dict[str, Any] = {"size": lk.size, "mtime_ns": lk.mtime_ns, "sha256": sha}
        try:
            report = ingest(
                [lk.path],
                self.profile,
                data_dir=self.store.root,
                h3_resolution=self.h3_resolution,
            )
        except StoreError as exc:  # another writer holds the lock: not the file's fault
            rep.errors.append(f"{name}: {exc} (retried next cycle)")
            return
        except DispatchError as exc:
            rep.errors.append(f"{name}: {exc}")
            files[name] = entry | {"status": "failed", "error": str(exc), "at": utc_now()}
            looks.pop(name, None)
            return
        except Exception as exc:  # noqa: BLE001 - one unreadable file must not stop the feed
            msg = f"internal error reading the file: {type(exc).__name__}: {exc}"
            rep.errors.append(f"{name}: {msg}")
            files[name] = entry | {"status": "failed", "error": msg, "at": utc_now()}
            looks.pop(name, None)
            return
        fr = report.files[0]
        rep.rows_read += fr.rows_read
        rep.rows_accepted += fr.rows_accepted
        rep.rows_rejected += fr.rows_rejected
        rep.duplicates += fr.rejects_by_reason.get("duplicate_row", 0)
        batch = fr.batch_id or fr.skipped_as
        if fr.skipped:
            rep.unchanged += 1
        else:
            rep.ingested += 1
            rep.batches.append(str(batch))
        after = _relook(lk)
        if after is None or after.stamp != lk.stamp:
            # it changed while being read: what was read is stored; look at it again
            if after is not None:
                looks[name] = list(after.stamp)
            return
        files[name] = entry | {"status": "ingested", "batch_id": batch, "at": utc_now()}
        looks.pop(name, None)

    def _save(self, rep: CycleReport, final: bool) -> None:
        if final:
            self.state["last_cycle_at"] = rep.started_at
            self.state["last_error"] = "; ".join(rep.errors) or None
            if rep.ok:
                self.state["last_ok_at"] = rep.started_at
        save_state(self.state_file, self.state)

    def record_failure(self, message: str) -> None:
        """Record a failed cycle (e.g. the folder vanished) in the state."""
        self.state["last_cycle_at"] = utc_now()
        self.state["last_error"] = message
        save_state(self.state_file, self.state)


def _stamp(entry: dict | None) -> list | None:
    """``[size, mtime_ns]`` of a recorded file (compared with a look's stamp)."""
    return None if entry is None else [entry.get("size"), entry.get("mtime_ns")]


def _relook(lk: FileLook) -> FileLook | None:
    try:
        st = lk.path.stat()
    except OSError:
        return None
    return FileLook(lk.path, st.st_size, st.st_mtime_ns)
