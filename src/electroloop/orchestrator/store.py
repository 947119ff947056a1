"""`CampaignStore`: an append-only event log in SQLite, the campaign's single source of truth.

Each event is committed in its own transaction before the caller goes on, so a crash loses at
most the step that was running. SQLite triggers refuse UPDATE and DELETE: history cannot be
rewritten, only extended. WAL mode lets a UI read while the campaign writes.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from electroloop.errors import CampaignError
from electroloop.models import BUILTIN_DESIGNS, Design
from electroloop.orchestrator.events import EVENT_ADAPTER, CampaignState, Event, fold

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id  TEXT NOT NULL,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    recorded_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_campaign ON events (campaign_id, seq);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
"""


def private_file(path: Path) -> None:
    """Create `path` (and its folder) readable and writable by its owner only, unless it
    exists: a lab's records are nobody else's on a shared PC. SQLite gives its -wal and -shm
    files the database file's permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass


def connect(path: Path, schema: str, busy_timeout: float = 5.0) -> sqlite3.Connection:
    """Open the campaigns database as every writer of it does: autocommit (each caller opens
    its own transactions), WAL so readers never wait, fully synced commits, `schema` applied.
    One connection may be shared by a flow's threads (each user holds its own lock). A new
    database is readable by its owner only (`private_file`)."""
    private_file(path)
    db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(schema)
    return db


class CampaignStore:
    """Append and read campaign events; state is always recomputed with `fold`."""

    def __init__(
        self, path: str | Path, designs: Mapping[str, type[Design]] = BUILTIN_DESIGNS
    ) -> None:
        """`designs`: the design types its candidates may have, by `Design.type` (a kind with
        a design of its own adds it; formulations are always known)."""
        self.path = Path(path)
        self._context = {"designs": {**BUILTIN_DESIGNS, **designs}}
        self._db = connect(self.path, SCHEMA)
        self._lock = threading.Lock()  # one connection, shared by the flow's task threads

    def append(self, campaign_id: str, event: Event) -> int:
        """Durably append one event; returns its sequence number."""
        with self._lock, self._db:
            cursor = self._db.execute(
                "INSERT INTO events (campaign_id, kind, payload, recorded_at) VALUES (?, ?, ?, ?)",
                (
                    campaign_id,
                    event.kind,
                    event.model_dump_json(),
                    datetime.now(UTC).isoformat(timespec="milliseconds"),
                ),
            )
        return int(cursor.lastrowid or 0)

    def events(self, campaign_id: str) -> list[Event]:
        """All events of a campaign, in the order they were appended."""
        rows = self._query(
            "SELECT payload FROM events WHERE campaign_id = ? ORDER BY seq", (campaign_id,)
        )
        return [EVENT_ADAPTER.validate_json(payload, context=self._context) for (payload,) in rows]

    def state(self, campaign_id: str) -> CampaignState:
        """Current state of a campaign; raises CampaignError if it has no events."""
        events = self.events(campaign_id)
        if not events:
            raise CampaignError(f"campaign {campaign_id!r} has no events in {self.path}")
        return fold(events)

    def started_spec(self, campaign_id: str) -> dict[str, Any]:
        """The spec (as JSON) a campaign started with; CampaignError naming recent campaigns."""
        known = self.campaign_ids()
        if campaign_id not in known:
            raise CampaignError(
                f"campaign_id {campaign_id!r} is not in {self.path}; "
                f"recent campaigns: {known[-5:] or 'none'}"
            )
        spec = self.state(campaign_id).spec
        if spec is None:
            raise CampaignError(f"campaign {campaign_id!r} never started in {self.path}")
        return spec

    def timeline(self, campaign_id: str) -> list[tuple[str, datetime]]:
        """(event kind, time it was recorded) for each event of a campaign, in order."""
        rows = self._query(
            "SELECT kind, recorded_at FROM events WHERE campaign_id = ? ORDER BY seq",
            (campaign_id,),
        )
        return [(kind, datetime.fromisoformat(at)) for kind, at in rows]

    def campaign_ids(self) -> list[str]:
        """Every campaign in the store, oldest first."""
        rows = self._query(
            "SELECT campaign_id FROM events GROUP BY campaign_id ORDER BY MIN(seq)", ()
        )
        return [campaign_id for (campaign_id,) in rows]

    def _query(self, sql: str, parameters: tuple[str, ...]) -> list[tuple[str, ...]]:
        with self._lock:
            return self._db.execute(sql, parameters).fetchall()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> CampaignStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
