"""A feed's state: one JSON file per feed under ``<data dir>/state/``, written atomically.

The state is what lets a watcher stop and start again without ingesting anything twice:
for a drop folder, every file's size, modification time, SHA-256 and batch id; for a
database, the saved cursor and the content hashes of the rows taken at it. A state file is
replaced by one rename (write a temporary file, fsync, ``os.replace``), so a crash leaves the
old state or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import FeedError
from ..store.permissions import private_files

__all__ = [
    "STATE_DIR",
    "feed_key",
    "state_path",
    "load_state",
    "save_state",
    "list_states",
    "CycleReport",
    "utc_now",
]

#: Folder of the feed states inside a data directory.
STATE_DIR = "state"


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def feed_key(*parts: str) -> str:
    """A short stable hash naming a feed (its state file is ``watch_<key>.json``).

    Parameters
    ----------
    *parts : str
        What identifies the feed (folder and profile; database, query and cursor column).

    Returns
    -------
    str
        12 hex digits.
    """
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:12]


def state_path(data_dir: Path, key: str) -> Path:
    """The state file of the feed ``key`` in the data directory ``data_dir``."""
    return Path(data_dir) / STATE_DIR / f"watch_{key}.json"


def load_state(path: Path) -> dict[str, Any]:
    """A feed's state (an empty dict when the feed never ran).

    Raises
    ------
    FeedError
        The file exists but is not a JSON object.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise FeedError(f"cannot read feed state {path}: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FeedError(
            f"feed state {path} is not valid JSON ({exc}); delete it to start the feed afresh "
            "(already ingested rows are then rejected as duplicates)"
        ) from exc
    if not isinstance(data, dict):
        raise FeedError(f"feed state {path} is not a JSON object; delete it to start afresh")
    return data


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (temporary file, fsync, rename, fsync folder),
    with the store's file modes (0600 unless ``$DISPATCH_FILE_MODE`` says otherwise)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = json.dumps(state, indent=1, sort_keys=True, default=_json_default)
    with private_files():
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _json_default(v: Any) -> str:
    return v.isoformat() if isinstance(v, datetime) else str(v)


def list_states(data_dir: Path) -> list[dict[str, Any]]:
    """Every feed state of a data directory (unreadable files are skipped)."""
    out = []
    for p in sorted((Path(data_dir) / STATE_DIR).glob("watch_*.json")):
        try:
            out.append(load_state(p) | {"state_file": str(p)})
        except FeedError:
            continue
    return out


@dataclass
class CycleReport:
    """What one look at a feed did (one log line)."""

    feed: str
    kind: str
    started_at: datetime = field(default_factory=utc_now)
    seconds: float = 0.0
    #: files in the folder / rows the poll fetched
    seen: int = 0
    #: files new or changed but not yet stable (ingested on a later look)
    waiting: int = 0
    #: files (or fetched batches) published this cycle
    ingested: int = 0
    #: files whose content was ingested before (nothing added)
    unchanged: int = 0
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    #: of the rejected rows, those already stored (a grown file's old rows, a refetch)
    duplicates: int = 0
    batches: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cursor: str | None = None

    @property
    def ok(self) -> bool:
        """True when nothing failed in this cycle."""
        return not self.errors

    def line(self) -> str:
        """The cycle as one log line for people."""
        unit = "files" if self.kind == "folder" else "rows"
        parts = [
            f"{self.started_at:%Y-%m-%dT%H:%M:%SZ}",
            f"{self.kind} {self.feed}:",
            f"seen {self.seen:,} {unit},",
        ]
        if self.kind == "folder":
            parts.append(f"waiting {self.waiting:,},")
        parts += [
            f"ingested {self.ingested:,}",
            f"(rows accepted {self.rows_accepted:,}, rejected {self.rows_rejected:,}"
            + (f" of which {self.duplicates:,} already stored" if self.duplicates else "")
            + "),",
            f"errors {len(self.errors)}",
        ]
        if self.cursor is not None:
            parts.append(f"cursor {self.cursor}")
        parts.append(f"in {self.seconds:.2f} s")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The cycle as plain values (JSON for scripts: raw numbers, ISO times)."""
        d = asdict(self)
        d["started_at"] = self.started_at.isoformat()
        d["ok"] = self.ok
        return d
