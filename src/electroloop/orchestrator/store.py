"""`CampaignStore`: an append-only event log, the campaign's single source of truth.

Each event is committed in its own transaction before the caller goes on, so a crash loses at
most the step that was running. Triggers refuse UPDATE and DELETE: history cannot be rewritten,
only extended. The log lives in an SQLite file (WAL mode lets a UI read while the campaign
writes) or, for a lab that spans several machines, in PostgreSQL (`orchestrator.database`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from electroloop.errors import CampaignError
from electroloop.models import BUILTIN_DESIGNS, Design
from electroloop.orchestrator.database import Dialect, open_database
from electroloop.orchestrator.events import EVENT_ADAPTER, CampaignState, Event, fold

SCHEMAS: dict[Dialect, str] = {
    "sqlite": """
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
""",
    "postgresql": """
CREATE TABLE IF NOT EXISTS events (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id  TEXT NOT NULL,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    recorded_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_campaign ON events (campaign_id, seq);
CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'events are append-only'; END $$;
CREATE OR REPLACE TRIGGER events_no_change BEFORE UPDATE OR DELETE ON events
FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE OR REPLACE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();
""",
}


class CampaignStore:
    """Append and read campaign events; state is always recomputed with `fold`."""

    def __init__(
        self, target: str | Path, designs: Mapping[str, type[Design]] = BUILTIN_DESIGNS
    ) -> None:
        """`target`: an SQLite path or a PostgreSQL URL (`Settings.store`). `designs`: the
        design types its candidates may have, by `Design.type` (a kind with a design of its
        own adds it; formulations are always known)."""
        self._context = {"designs": {**BUILTIN_DESIGNS, **designs}}
        self._db = open_database(target, SCHEMAS)
        self.location = self._db.location
        """Where the log lies, fit to print (a path, or a URL with its password hidden)."""

    def append(self, campaign_id: str, event: Event) -> int:
        """Durably append one event; returns its sequence number."""
        row = self._db.fetchone(
            "INSERT INTO events (campaign_id, kind, payload, recorded_at) VALUES (?, ?, ?, ?) "
            "RETURNING seq",
            (
                campaign_id,
                event.kind,
                event.model_dump_json(),
                datetime.now(UTC).isoformat(timespec="milliseconds"),
            ),
        )
        return int(row[0]) if row else 0

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
            raise CampaignError(f"campaign {campaign_id!r} has no events in {self.location}")
        return fold(events)

    def started_spec(self, campaign_id: str) -> dict[str, Any]:
        """The spec (as JSON) a campaign started with; CampaignError naming recent campaigns."""
        known = self.campaign_ids()
        if campaign_id not in known:
            raise CampaignError(
                f"campaign_id {campaign_id!r} is not in {self.location}; "
                f"recent campaigns: {known[-5:] or 'none'}"
            )
        spec = self.state(campaign_id).spec
        if spec is None:
            raise CampaignError(f"campaign {campaign_id!r} never started in {self.location}")
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
        return self._db.fetchall(sql, parameters)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> CampaignStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
