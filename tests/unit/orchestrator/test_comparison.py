"""`electroloop compare`'s pure part: the reference, experiments-to-target, table, CSV, figure."""

from __future__ import annotations

import csv
import math
from dataclasses import fields, replace
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from electroloop.orchestrator.comparison import (
    BEST_FOUND_KIND,
    OPTIMUM_KIND,
    CampaignHistory,
    ComparisonRow,
    comparison_plot,
    comparison_rows,
    experiments_to,
    format_table,
    group_band,
    reference_kind,
    shared_optimum,
    target_reference,
    write_table_csv,
)
from electroloop.orchestrator.reporting import best_so_far

PNG = b"\x89PNG\r\n\x1a\n"


def history(
    campaign_id: str,
    values: list[float | None],
    *,
    group: str | None = None,
    planner: str = "ax",
    maximize: bool = True,
    metric: str = "conductivity",
    unit: str = "mS/cm",
    optimum: float | None = None,
    failures: int = 0,
    wall_time: float | None = 120.0,
) -> CampaignHistory:
    """A history built from raw trial values the way campaigns log them (None: failed trial)."""
    return CampaignHistory(
        campaign_id=campaign_id,
        study="screen",
        planner=planner,
        group=group if group is not None else campaign_id,
        metric=metric,
        unit=unit,
        maximize=maximize,
        best_so_far=tuple(best_so_far(values, maximize)),
        failures=failures,
        wall_time=wall_time,
        optimum=optimum,
    )


def curve(campaign_id: str, entries: list[float | None], group: str) -> CampaignHistory:
    """A history with a hand-made best-so-far curve, for the band arithmetic."""
    return replace(history(campaign_id, [], group=group), best_so_far=tuple(entries))


# --- target_reference -------------------------------------------------------------------------


def test_reference_is_the_shared_simulator_optimum() -> None:
    histories = [
        history("a", [10.0, 12.0], optimum=13.12),
        history("b", [11.0], optimum=13.12 * (1 + 1e-12)),
    ]
    # the first campaign's optimum taken as it is, not an average of the two
    assert target_reference(histories) == 13.12
    assert shared_optimum(histories) == 13.12
    assert reference_kind(histories) == OPTIMUM_KIND


@pytest.mark.parametrize(
    "optima",
    [(13.12, None), (None, None), (13.12, 14.0)],
    ids=["one-unknown", "none-known", "disagree"],
)
def test_reference_falls_back_to_best_found(optima: tuple[float | None, float | None]) -> None:
    histories = [
        history("a", [10.0, 12.0], optimum=optima[0]),
        history("b", [None, 12.5, 11.0], optimum=optima[1]),
    ]
    assert target_reference(histories) == 12.5
    assert shared_optimum(histories) is None
    assert reference_kind(histories) == BEST_FOUND_KIND


def test_reference_when_minimizing_is_the_lowest_found() -> None:
    histories = [
        history("a", [3.0, 2.0], maximize=False),
        history("b", [2.5, 1.5], maximize=False),
    ]
    assert target_reference(histories) == 1.5


def test_reference_refuses_mixed_metrics_and_names_the_campaigns() -> None:
    histories = [
        history("c1", [10.0]),
        history("c2", [11.0]),
        history("c3", [2.0], metric="viscosity", unit="mPa s"),
    ]
    with pytest.raises(ValueError, match=r"metric: conductivity \(c1, c2\); viscosity \(c3\)"):
        target_reference(histories)


def test_reference_refuses_mixed_directions() -> None:
    histories = [history("up", [10.0]), history("down", [10.0], maximize=False)]
    with pytest.raises(ValueError, match=r"maximize: True \(up\); False \(down\)"):
        target_reference(histories)


def test_reference_refuses_nothing_to_compare() -> None:
    with pytest.raises(ValueError, match="no campaigns"):
        target_reference([])
    with pytest.raises(ValueError, match="no compared campaign has an observation yet: a, b"):
        target_reference([history("a", [None, None]), history("b", [])])


# --- experiments_to ---------------------------------------------------------------------------


def test_experiments_to_when_maximizing() -> None:
    h = history("a", [5.0, None, 9.4, 9.6, 10.0])
    assert experiments_to(h, 10.0) == 4  # 9.5 is the bar; 9.4 misses it
    assert experiments_to(h, 10.0, fraction=1.0) == 5
    assert experiments_to(h, 20.0) is None


def test_experiments_to_when_minimizing() -> None:
    h = history("a", [4.0, 2.2, 2.1, 2.0], maximize=False)
    assert experiments_to(h, 2.0) == 3  # bar is 2.0 / 0.95 = 2.105...
    assert experiments_to(h, 1.0) is None


def test_experiments_to_is_one_when_the_first_trial_is_good_enough() -> None:
    assert experiments_to(history("a", [10.0, 11.0]), 10.0) == 1


def test_experiments_to_skips_trials_before_the_first_observation() -> None:
    assert experiments_to(history("a", [None, None, 10.0]), 10.0) == 3


@pytest.mark.parametrize("fraction", [0.0, -0.5, 1.01, math.nan])
def test_experiments_to_refuses_a_bad_fraction(fraction: float) -> None:
    with pytest.raises(ValueError, match="fraction"):
        experiments_to(history("a", [10.0]), 10.0, fraction=fraction)


@pytest.mark.parametrize("reference", [0.0, -3.0])
def test_experiments_to_refuses_a_non_positive_reference(reference: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        experiments_to(history("a", [10.0]), reference)


# --- rows, table, CSV -------------------------------------------------------------------------


def campaigns() -> list[CampaignHistory]:
    return [
        history("rand-1", [6.0, 7.0, 8.0], group="random", planner="random", wall_time=None),
        history("ax-2", [None, 9.0, 12.6, 13.0], group="ax", failures=1, wall_time=5400.0),
        history("ax-1", [8.0, 12.5, 12.0], group="ax"),
    ]


def test_comparison_rows_values_sorted_by_group_then_id() -> None:
    rows = comparison_rows(campaigns())  # reference: 13.0 found by ax-2; bar 12.35
    assert rows == [
        ComparisonRow("ax-1", "ax", "ax", 3, 12.5, 2, 120.0, 0),
        ComparisonRow("ax-2", "ax", "ax", 4, 13.0, 3, 5400.0, 1),
        ComparisonRow("rand-1", "random", "random", 3, 8.0, None, None, 0),
    ]


def test_comparison_rows_best_is_none_for_a_campaign_without_observations() -> None:
    rows = comparison_rows([history("a", [10.0]), history("b", [None])])
    assert [(r.best, r.experiments_to_target) for r in rows] == [(10.0, 1), (None, None)]


def test_format_table_states_the_reference_and_renders_rows() -> None:
    histories = [replace(h, optimum=13.12) for h in campaigns()]
    reference = target_reference(histories)
    text = format_table(
        comparison_rows(histories),
        metric="conductivity",
        unit="mS/cm",
        reference=reference,
        reference_kind=reference_kind(histories),
    )
    lines = text.splitlines()
    assert lines[0] == (
        "conductivity: experiments to 95 % of 13.12 mS/cm (true optimum, simulator)"
    )
    header = lines[2].split()
    assert header[:2] == ["campaign", "planner"]
    assert "exp. to 95 %" in lines[2] and "wall time" in lines[2] and "failures" in lines[2]
    assert set(lines[3]) == {"-", " "}
    assert lines[5].split() == ["ax-2", "ax", "4", "13", "3", "1.5", "h", "1"]
    assert lines[6].split() == ["rand-1", "random", "3", "8", "-", "-", "0"]
    # aligned: every column starts where its heading does
    assert {len(line) for line in lines[2:4]} == {len(lines[3])}
    assert lines[5].index("13") + 2 == lines[2].index("best (mS/cm)") + len("best (mS/cm)")


def test_format_table_names_a_different_fraction() -> None:
    rows = comparison_rows(campaigns(), fraction=0.9)
    text = format_table(
        rows, metric="m", unit="", reference=13.0, reference_kind=BEST_FOUND_KIND, fraction=0.9
    )
    assert text.splitlines()[0] == f"m: experiments to 90 % of 13 ({BEST_FOUND_KIND})"
    assert "exp. to 90 %" in text


def test_csv_round_trips(tmp_path: Path) -> None:
    rows = comparison_rows(campaigns())
    path = write_table_csv(rows, tmp_path / "out" / "comparison.csv")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == [f.name for f in fields(ComparisonRow)]
        read = list(reader)

    def number(cell: str) -> float | None:
        return None if cell == "" else float(cell)

    parsed = [
        ComparisonRow(
            campaign_id=r["campaign_id"],
            group=r["group"],
            planner=r["planner"],
            trials=int(r["trials"]),
            best=number(r["best"]),
            experiments_to_target=None
            if r["experiments_to_target"] == ""
            else int(r["experiments_to_target"]),
            wall_time=number(r["wall_time"]),
            failures=int(r["failures"]),
        )
        for r in read
    ]
    assert parsed == rows


# --- group band and plot ----------------------------------------------------------------------


def test_group_band_median_min_max_over_unequal_lengths_and_missing_starts() -> None:
    members = [
        curve("s1", [None, 2.0, 4.0, 5.0], "g"),
        curve("s2", [None, None, 1.0], "g"),
        curve("s3", [None, 3.0, 3.0, 6.0, 7.0], "g"),
    ]
    trials, median, low, high = group_band(members)
    np.testing.assert_array_equal(trials, [1, 2, 3, 4, 5])
    nan = np.nan
    # the median of two values is their mean, computed: only its rounding may differ
    np.testing.assert_allclose(median, [nan, 2.5, 3.0, 5.5, 7.0], rtol=1e-12, atol=0.0)
    # min and max pick one of the curves' own values
    np.testing.assert_array_equal(low, [nan, 2.0, 1.0, 5.0, 7.0])
    np.testing.assert_array_equal(high, [nan, 3.0, 4.0, 6.0, 7.0])
    assert all(a.shape == (5,) for a in (median, low, high))


def test_group_band_refuses_no_members() -> None:
    with pytest.raises(ValueError, match="at least one"):
        group_band([])


def test_comparison_plot_draws_single_and_repeated_groups(tmp_path: Path) -> None:
    histories = [
        history("rand-1", [6.0, None, 8.0], group="random", planner="random"),
        history("ax-s1", [None, 9.0, 12.6, 13.0], group="ax", optimum=13.12),
        history("ax-s2", [8.0, 12.5], group="ax", optimum=13.12),
        history("ax-s3", [None, None, 11.0, 12.0, 12.9], group="ax", optimum=13.12),
        history("empty", [None, None], group="stalled"),
    ]
    path = comparison_plot(histories, tmp_path / "figs" / "compare.png", title="ax vs random")
    assert path == tmp_path / "figs" / "compare.png"
    assert path.read_bytes().startswith(PNG)
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_comparison_plot_with_optimum_line(tmp_path: Path) -> None:
    histories = [
        history("a", [10.0, 12.0], group="ax", optimum=13.12),
        history("b", [11.0, 11.5, 13.0], group="ax", optimum=13.12),
    ]
    path = comparison_plot(histories, tmp_path / "compare.png", title="repeats")
    assert matplotlib.image.imread(path).shape[2] in (3, 4)


def test_comparison_plot_refuses_mixed_metrics(tmp_path: Path) -> None:
    histories = [history("a", [1.0]), history("b", [1.0], metric="viscosity")]
    with pytest.raises(ValueError, match="metric"):
        comparison_plot(histories, tmp_path / "x.png", title="bad")
    assert not (tmp_path / "x.png").exists()
