"""`CellRecordStore`: every record a cycler channel took for a cell, stored once, in order.

Records live in their own table beside the event log (same database), not as events:
a cycle-life test yields tens of thousands of records, and folding them into the campaign's
state at every restart would cost more than the test's facts are worth there. The table is
append-only like the log (triggers refuse UPDATE and DELETE).

No gap, no duplicate: the cycler numbers a channel's records from 0 (`DATA? <since>`), and
`append` accepts a page only if it starts exactly at the count already stored, inside one
transaction; the primary key (campaign, cell, index) refuses a second copy of any record. A
client that asks from `next_index` after a crash or a dropped link therefore stores each
record exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from electroloop.errors import CampaignError
from electroloop.instruments.cycler import CycleRecord
from electroloop.orchestrator.database import Dialect, open_database

# REAL is a 4-byte float in PostgreSQL; DOUBLE PRECISION is 8 bytes on both (SQLite: REAL).
_COLUMNS = """
    campaign_id  TEXT NOT NULL,
    cell_id      TEXT NOT NULL,
    idx          INTEGER NOT NULL,
    phase        TEXT NOT NULL,
    time         DOUBLE PRECISION NOT NULL,
    cycle        INTEGER NOT NULL,
    step         INTEGER NOT NULL,
    current      DOUBLE PRECISION NOT NULL,
    voltage      DOUBLE PRECISION NOT NULL,
    capacity     DOUBLE PRECISION NOT NULL,
    energy       DOUBLE PRECISION NOT NULL,
    temperature  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (campaign_id, cell_id, idx)"""

SCHEMAS: dict[Dialect, str] = {
    "sqlite": f"""
CREATE TABLE IF NOT EXISTS cell_records (
{_COLUMNS}
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS cell_records_no_update BEFORE UPDATE ON cell_records
BEGIN SELECT RAISE(ABORT, 'cell records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS cell_records_no_delete BEFORE DELETE ON cell_records
BEGIN SELECT RAISE(ABORT, 'cell records are append-only'); END;
""",
    "postgresql": f"""
CREATE TABLE IF NOT EXISTS cell_records (
{_COLUMNS}
);
CREATE OR REPLACE FUNCTION cell_records_append_only() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'cell records are append-only'; END $$;
CREATE OR REPLACE TRIGGER cell_records_no_change BEFORE UPDATE OR DELETE ON cell_records
FOR EACH ROW EXECUTE FUNCTION cell_records_append_only();
""",
}

_FIELDS = "idx, time, cycle, step, current, voltage, capacity, energy, temperature"


class CellRecordStore:
    """Append and read a cell's cycler records (channel index order)."""

    def __init__(self, target: str | Path) -> None:
        """`target`: an SQLite path or a PostgreSQL URL (`Settings.store`)."""
        self._db = open_database(target, SCHEMAS)

    def next_index(self, campaign_id: str, cell_id: str) -> int:
        """The channel index of the next record to fetch (= the records stored so far)."""
        row = self._db.fetchone(
            "SELECT COALESCE(MAX(idx) + 1, 0) FROM cell_records "
            "WHERE campaign_id = ? AND cell_id = ?",
            (campaign_id, cell_id),
        )
        return int(row[0]) if row else 0

    def append(
        self,
        campaign_id: str,
        cell_id: str,
        phase: str,
        records: Sequence[CycleRecord],
        *,
        first_index: int = 0,
    ) -> int:
        """Store a page of consecutive records; returns the next index to fetch.

        `first_index` is where this cell's records begin on its channel (a channel used by an
        earlier cell numbers on from that cell's records). Raises `CampaignError` if the page
        does not start where the stored records end or skips an index: nothing is stored then.
        """
        with self._db.transaction() as db:
            stored = db.fetchall(
                "SELECT MAX(idx) FROM cell_records WHERE campaign_id = ? AND cell_id = ?",
                (campaign_id, cell_id),
            )[0][0]
            expected = first_index if stored is None else int(stored) + 1
            if not records:
                return expected
            indices = [r.index for r in records]
            if indices != list(range(expected, expected + len(records))):
                raise CampaignError(
                    f"cell {cell_id}: records {indices[0]}..{indices[-1]} do not continue the "
                    f"stored ones (next expected {expected}); nothing stored"
                )
            db.executemany(
                f"INSERT INTO cell_records (campaign_id, cell_id, phase, {_FIELDS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        campaign_id,
                        cell_id,
                        phase,
                        r.index,
                        r.time,
                        r.cycle,
                        r.step,
                        r.current,
                        r.voltage,
                        r.capacity,
                        r.energy,
                        r.temperature,
                    )
                    for r in records
                ],
            )
            return expected + len(records)

    def records(self, campaign_id: str, cell_id: str) -> list[tuple[str, CycleRecord]]:
        """(phase, record) of every stored record of the cell, in index order."""
        rows = self._db.fetchall(
            f"SELECT phase, {_FIELDS} FROM cell_records "
            "WHERE campaign_id = ? AND cell_id = ? ORDER BY idx",
            (campaign_id, cell_id),
        )
        return [
            (phase, CycleRecord(int(i), t, int(c), int(s), cur, v, q, e, temp))
            for phase, i, t, c, s, cur, v, q, e, temp in rows
        ]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> CellRecordStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
