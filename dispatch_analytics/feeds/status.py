"""How fresh the store is: the last successful ingest, its age, and whether it is stale.

The dashboard shows :func:`feed_status` beside the page title ("data as of 12:04, 3 min
ago") and warns when the feed is stale; ``dispatch feed-status`` prints it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from ..errors import FeedError
from ..store import Store
from .state import list_states, utc_now

__all__ = ["DEFAULT_STALE_AFTER_S", "feed_status"]

#: A store whose last ingest is older than this (seconds) is stale by default.
DEFAULT_STALE_AFTER_S = 900.0


def feed_status(
    store: Store,
    stale_after_s: float = DEFAULT_STALE_AFTER_S,
    now: datetime | None = None,
    agency: str | None = None,
) -> dict[str, Any]:
    """The last successful ingest of a store, its age and whether the feed is stale.

    Parameters
    ----------
    store : Store
    stale_after_s : float
        The feed is stale when the last batch finished longer ago than this (or when
        nothing was ever ingested).
    now : datetime, optional
        The time to measure the age at (timezone-aware; default: now).
    agency : str, optional
        Only batches holding rows of this agency.

    Returns
    -------
    dict
        ``last_ingest_at`` (UTC datetime or None), ``age_s`` (float or None), ``stale``
        (bool), ``stale_after_s``, ``batches`` (count), ``last_batch_id``, ``last_source``,
        ``last_rows_accepted``, and ``feeds``: one dict per watcher that ran on this store
        (``kind``, ``feed``, ``profile``, ``last_cycle_at``, ``last_ok_at``,
        ``last_error``, ``cursor``).

    Raises
    ------
    FeedError
        ``stale_after_s`` is not positive, or ``now`` has no time zone.

    Examples
    --------
    >>> from dispatch_analytics import Store
    >>> from dispatch_analytics.feeds import feed_status
    >>> feed_status(Store("dispatch_data"))["stale"]  # doctest: +SKIP
    False
    """
    problems = []
    if not stale_after_s > 0:
        problems.append(f"`stale_after_s` must be > 0 seconds, got {stale_after_s}")
    if now is not None and now.tzinfo is None:
        problems.append("`now` must be timezone-aware (e.g. datetime.now(UTC))")
    if problems:
        raise FeedError("; ".join(problems))
    now = now or utc_now()
    log = store.ingest_log().filter(pl.col("batch_id") != "_init")
    if agency is not None:
        ids = store.sql(
            "select distinct batch_id from responses_all where agency = $agency",
            {"agency": agency},
        )["batch_id"]
        log = log.filter(pl.col("batch_id").is_in(ids.implode()))
    log = log.sort("finished_at")
    out: dict[str, Any] = {
        "last_ingest_at": None,
        "age_s": None,
        "stale": True,
        "stale_after_s": float(stale_after_s),
        "batches": log.height,
        "last_batch_id": None,
        "last_source": None,
        "last_rows_accepted": None,
    }
    if log.height:
        last = log.row(-1, named=True)
        at = last["finished_at"]
        age = (now - at).total_seconds()
        out |= {
            "last_ingest_at": at,
            "age_s": age,
            "stale": age > stale_after_s,
            "last_batch_id": last["batch_id"],
            "last_source": last["source"],
            "last_rows_accepted": last["rows_accepted"],
        }
    keys = ("kind", "feed", "profile", "last_cycle_at", "last_ok_at", "last_error", "cursor")
    out["feeds"] = [{k: s.get(k) for k in keys} for s in list_states(store.root)]
    return out
