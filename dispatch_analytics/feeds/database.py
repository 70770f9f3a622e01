"""Polling a CAD database: fetch the rows past the saved cursor, ingest them as one batch.

Each poll runs the feed query (``select * from cad_units``) wrapped with the condition on the
cursor column (``>= saved cursor``, less the rows at exactly the saved cursor that an earlier
poll took, known by their content hash), writes the rows to a Parquet file in the store's
staging folder, ingests it through :func:`dispatch_analytics.api.ingest` with the feed's
profile, and only then saves the new cursor. A crash between the publish and the save
refetches the same rows: the staged file has the same content (rows are written in a fixed
order), so the ingest skips it, and any row it did not skip is rejected as a duplicate.

A row updated in the CAD (its cursor column moved on) is fetched again; its record joins
the store as a newer batch and supersedes the older one (the store keeps the record with
the most stages, then the latest last stage, then the latest batch).
"""

from __future__ import annotations

import os
import time
from typing import Any

import duckdb

from ..api import ingest
from ..errors import DispatchError, FeedError
from ..ingest.profiles import SourceProfile
from ..io.database import Fetched, connect_database, fetch_since, redact_url, write_staged
from ..store import Store
from ..store.permissions import private_files
from .state import (
    STATE_DIR,
    CycleReport,
    feed_key,
    load_state,
    save_state,
    state_path,
    utc_now,
)

__all__ = ["DatabaseWatch"]


class DatabaseWatch:
    """A CAD database table (or any query over it) fed into a store.

    Build it with :meth:`from_url`; call :meth:`cycle` once per poll.

    Attributes
    ----------
    url : str
        Shown redacted (no password) in every message.
    query : str
    cursor_column : str
    profile : SourceProfile
    store : Store
    state_file : Path
    state : dict
        ``cursor`` (text), ``cursor_type`` (its DuckDB type) and ``at_cursor`` (md5 of the
        rows already taken at the cursor).
    """

    kind = "database"

    def __init__(
        self,
        url: str,
        query: str,
        cursor_column: str,
        profile: SourceProfile,
        store: Store,
        name: str | None = None,
        h3_resolution: int | None = 8,
    ):
        self.url = url
        self.query = query
        self.cursor_column = cursor_column
        self.profile = profile
        self.store = store
        self.h3_resolution = h3_resolution
        self.name = redact_url(url) + (f" ({name})" if name else "")
        key = feed_key("database", redact_url(url), cursor_column, name or query, profile.name)
        self.key = key
        self.state_file = state_path(store.root, key)
        self.staging_dir = store.root / STATE_DIR / "staging"
        self.state: dict[str, Any] = load_state(self.state_file) or {
            "kind": "database",
            "feed": self.name,
            "profile": profile.name,
            "cursor_column": cursor_column,
            "cursor": None,
            "cursor_type": None,
            "at_cursor": [],
        }
        self._con: duckdb.DuckDBPyConnection | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        query: str,
        cursor_column: str,
        profile: SourceProfile,
        data_dir: str | os.PathLike | None = None,
        name: str | None = None,
        h3_resolution: int | None = 8,
        agency: str | None = None,
    ) -> DatabaseWatch:
        """A poller of ``query`` on the database at ``url``, ingesting with ``profile``.

        Parameters
        ----------
        url : str
            ``postgresql://user[:password]@host[:port]/dbname``.
        query : str
            One ``select`` (e.g. ``select * from cad_units``), without the cursor condition.
        cursor_column : str
            A column of the query that grows whenever a row is added or updated.
        profile : SourceProfile
            Maps the query's columns, as for a file export.
        data_dir : path, optional
            The store (created if missing); the feed's state lives in its ``state/``.
        name : str, optional
            What identifies the feed across restarts besides the URL and cursor (default:
            the query text; the CLI passes the query file's path, so editing the query keeps
            the cursor).
        h3_resolution : int or None
            Passed to :func:`dispatch_analytics.ingest`.
        agency : str, optional
            Reserved for several agencies in one store; only None is accepted yet.

        Returns
        -------
        DatabaseWatch

        Raises
        ------
        FeedError
            A blank query or cursor column, or an unusable state file.
        """
        problems = []
        if agency is not None:
            problems.append("`agency` must be None (the profile's `[source] agency` sets it)")
        if not query.strip():
            problems.append("`query` is empty: give one select, e.g. `select * from cad_units`")
        if not cursor_column.strip():
            problems.append("`cursor` is empty: name the column that grows on insert / update")
        if problems:
            raise FeedError("; ".join(problems))
        return cls(url, query, cursor_column, profile, Store(data_dir), name, h3_resolution)

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = connect_database(self.url, self.store.tmp_dir / "feed_spill")
        return self._con

    def close(self) -> None:
        """Close the database connection (the next cycle reconnects)."""
        if self._con is not None:
            self._con.close()
            self._con = None

    def cycle(self) -> CycleReport:
        """Poll once: fetch the rows past the cursor, ingest them, save the new cursor.

        Returns
        -------
        CycleReport

        Raises
        ------
        FeedError
            The server cannot be reached or the query fails (the connection is dropped and
            made again on the next cycle); nothing is saved.
        """
        t0 = time.perf_counter()
        rep = CycleReport(feed=self.name, kind=self.kind)
        st = self.state
        try:
            got = fetch_since(
                self._connection(),
                self.query,
                self.cursor_column,
                st.get("cursor"),
                st.get("cursor_type"),
                st.get("at_cursor") or [],
            )
        except (FeedError, duckdb.Error) as exc:
            self.close()
            if isinstance(exc, FeedError):
                raise
            raise FeedError(f"polling {self.name} failed: {str(exc).strip()}") from exc
        rep.seen = got.rows
        rep.cursor = st.get("cursor")
        if got.rows:
            self._ingest_batch(got, rep)
        rep.seconds = time.perf_counter() - t0
        st["last_cycle_at"] = rep.started_at
        st["last_error"] = "; ".join(rep.errors) or None
        if rep.ok:
            st["last_ok_at"] = rep.started_at
        save_state(self.state_file, st)
        return rep

    def _ingest_batch(self, got: Fetched, rep: CycleReport) -> None:
        """Stage the fetched rows to Parquet, ingest them, then move the cursor."""
        stamp = rep.started_at.strftime("%Y%m%dT%H%M%S%f")
        path = self.staging_dir / f"feed_{self.key}_{stamp}.parquet"
        try:
            with private_files():  # raw call rows: the store's file modes
                write_staged(self._connection(), path)
            report = ingest(
                [path], self.profile, data_dir=self.store.root, h3_resolution=self.h3_resolution
            )
        except duckdb.Error as exc:
            self.close()
            rep.errors.append(f"staging the fetched rows failed: {str(exc).strip()}")
            return
        except DispatchError as exc:  # the profile does not fit the query's columns, ...
            rep.errors.append(f"ingesting the fetched rows failed: {exc}")
            return
        finally:
            path.unlink(missing_ok=True)
        fr = report.files[0]
        rep.rows_read += fr.rows_read
        rep.rows_accepted += fr.rows_accepted
        rep.rows_rejected += fr.rows_rejected
        rep.duplicates += fr.rejects_by_reason.get("duplicate_row", 0)
        if fr.skipped:
            rep.unchanged += 1
        else:
            rep.ingested += 1
            rep.batches.append(str(fr.batch_id))
        # the batch is published: only now does the cursor move
        self.state.update(cursor=got.cursor, cursor_type=got.cursor_type, at_cursor=got.at_cursor)
        rep.cursor = got.cursor

    def record_failure(self, message: str) -> None:
        """Record a failed poll in the state (the cursor is unchanged)."""
        self.state["last_cycle_at"] = utc_now()
        self.state["last_error"] = message
        save_state(self.state_file, self.state)
