"""The short chaos run of `make test` (`make chaos` runs the long one): one campaign, killed
with SIGKILL at random moments and resumed each time, audited afterwards."""

from __future__ import annotations

import random
from pathlib import Path

from tests.chaos import report, run_with_kills


def test_a_campaign_killed_again_and_again_loses_and_repeats_nothing(tmp_path: Path) -> None:
    audit = run_with_kills(tmp_path / "home", budget=8, kills=3, rng=random.Random(7))
    table = report([audit])
    assert audit.clean, table
    assert table.endswith("3 kills, 0 lost, 0 duplicated")
    assert audit.finished == "budget spent"
