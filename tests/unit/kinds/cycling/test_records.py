"""Cycler records are stored exactly once and in order, whatever pages arrive."""

from __future__ import annotations

from pathlib import Path

import pytest

from electroloop.errors import CampaignError
from electroloop.instruments.cycler import CycleRecord
from electroloop.kinds.cycling.records import CellRecordStore


def records(first: int, count: int) -> list[CycleRecord]:
    return [
        CycleRecord(i, 30.0 * i, 1, 1, 0.005, 3.5 + 0.001 * i, 0.001 * i, 0.0035 * i, 25.0)
        for i in range(first, first + count)
    ]


def test_pages_are_stored_once_in_order_from_the_cells_first_index(
    store_target: str | Path,
) -> None:
    with CellRecordStore(store_target) as store:
        assert store.next_index("c", "cell-1") == 0
        assert store.append("c", "cell-1", "formation", records(7, 3), first_index=7) == 10
        assert store.append("c", "cell-1", "cycling", records(10, 2), first_index=7) == 12
        assert store.next_index("c", "cell-1") == 12
        assert store.append("c", "cell-1", "cycling", [], first_index=7) == 12
        with pytest.raises(CampaignError, match="do not continue"):  # a re-fetched page
            store.append("c", "cell-1", "cycling", records(11, 2), first_index=7)
        with pytest.raises(CampaignError, match="do not continue"):  # a gap
            store.append("c", "cell-1", "cycling", records(13, 1), first_index=7)
        stored = store.records("c", "cell-1")
        assert [r.index for _, r in stored] == list(range(7, 12))
        assert [p for p, _ in stored] == ["formation"] * 3 + ["cycling"] * 2
        assert stored[-1][1] == records(11, 1)[0]  # every field survives the round trip
        assert store.records("c", "cell-2") == []
    with CellRecordStore(store_target) as store:  # durable across opens
        assert store.next_index("c", "cell-1") == 12


def test_the_first_page_must_start_at_the_first_index(store_target: str | Path) -> None:
    with CellRecordStore(store_target) as store:
        with pytest.raises(CampaignError, match="next expected 4"):
            store.append("c", "cell", "formation", records(5, 2), first_index=4)
        assert store.next_index("c", "cell") == 0
