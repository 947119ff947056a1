"""`electroloop compare` reading campaigns that the tracker logged into a real MLflow store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from electroloop.errors import ConfigError
from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.settings import Settings
from electroloop.workflows.build import assemble, simulator_oracle
from electroloop.workflows.compare import compare
from electroloop.workflows.tracking import MlflowTracker


def run_tracked(home: Path, uri: str, campaign_id: str, **update: object) -> None:
    """A three-trial simulated campaign, recorded by the tracker as a flow would."""
    spec = default_campaign().model_copy(
        update={"planner": "sobol", "budget": 3, "batch_size": 3} | update
    )
    oracle = simulator_oracle(spec)
    assert oracle is not None
    tracker = MlflowTracker(uri, home / "mlartifacts", spec, campaign_id, oracle.model)
    with assemble(spec, Settings(home=home), campaign_id, [tracker], oracle) as assembly:
        state = assembly.campaign.run()
    tracker.finish(
        status="FINISHED",
        trials=state.trials_run,
        failures=len(state.failures),
        true_optimum=oracle.optimum,
        planner_state=None,
        events=[],
        plots=[],
        summary={},
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("runs")
    uri = f"sqlite:///{home / 'mlflow.db'}"
    run_tracked(home, uri, "sobol-a", seed=1)
    run_tracked(home, uri, "sobol-b", seed=2)  # a repeat of sobol-a: same design, other seed
    run_tracked(home, uri, "random-a", planner="random")
    run_tracked(home, uri, "other-study", study="elsewhere")  # the most recent campaign
    yield uri


def test_compare_reads_back_the_logged_curves_and_groups_repeats(
    store: str, tmp_path: Path
) -> None:
    result = compare(store, [], "electrolyte-conductivity", tmp_path)
    by_id = {h.campaign_id: h for h in result.histories}
    assert set(by_id) == {"sobol-a", "sobol-b", "random-a"}
    assert by_id["sobol-a"].group == by_id["sobol-b"].group != by_id["random-a"].group
    for history in by_id.values():
        assert len(history.best_so_far) == 3 and None not in history.best_so_far
        assert list(history.best_so_far) == sorted(history.best_so_far)  # type: ignore[type-var]
        assert history.optimum is not None and history.optimum >= history.best_so_far[-1] - 0.5
        assert history.metric == "conductivity" and history.unit == "mS/cm"
        assert history.wall_time is not None and history.wall_time > 0
    assert "true optimum, simulator" in result.table
    assert result.figure.stat().st_size > 10_000
    assert result.csv_file.read_text(encoding="utf-8").count("\n") == 4  # header + 3 rows


def test_without_arguments_the_latest_campaigns_study_is_compared(
    store: str, tmp_path: Path
) -> None:
    result = compare(store, [], None, tmp_path)
    assert [h.campaign_id for h in result.histories] == ["other-study"]


def test_named_campaigns_are_compared_across_studies(store: str, tmp_path: Path) -> None:
    result = compare(store, ["random-a", "other-study"], None, tmp_path)
    assert [h.campaign_id for h in result.histories] == ["random-a", "other-study"]


@pytest.mark.parametrize(
    ("ids", "study", "message"),
    [
        (["nope"], None, "campaign 'nope': not found in any study"),
        (["other-study"], "electrolyte-conductivity", "not found in study"),
        ([], "no-such-study", r"--study 'no-such-study': no such study; known studies: \["),
    ],
)
def test_unknown_campaigns_and_studies_are_named(
    store: str, tmp_path: Path, ids: list[str], study: str | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        compare(store, ids, study, tmp_path)


def test_an_empty_store_and_a_bad_fraction_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="allowed: 0 < fraction <= 1"):
        compare("sqlite:///unused.db", [], None, tmp_path, fraction=1.5)
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    with pytest.raises(ConfigError, match="no campaigns yet"):
        compare(empty, [], None, tmp_path)
