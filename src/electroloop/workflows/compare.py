"""`electroloop compare`: campaigns read back from any MLflow tracking URI, compared side by side.

Reads only what docs/mlflow.md promises (tags, the `best_<objective>` history, the final
`trials`/`failures`/`true_optimum` metrics), so it works the same on a project-local SQLite file
and on a shared tracking server, and on campaigns that are still running.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mlflow.entities import Run, ViewType
from mlflow.tracking import MlflowClient

from electroloop.errors import ConfigError
from electroloop.orchestrator.comparison import (
    CampaignHistory,
    comparison_plot,
    comparison_rows,
    format_table,
    reference_kind,
    target_reference,
    write_table_csv,
)
from electroloop.workflows.tracking import open_client

_CAMPAIGN = "tags.`electroloop.kind` = 'campaign'"


@dataclass(frozen=True)
class Comparison:
    """What `compare` wrote, and the table it printed."""

    histories: list[CampaignHistory]
    table: str
    figure: Path
    table_file: Path
    csv_file: Path


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _all_experiment_ids(client: MlflowClient) -> list[str]:
    return [e.experiment_id for e in client.search_experiments(view_type=ViewType.ACTIVE_ONLY)]


def select_campaign_runs(
    client: MlflowClient, campaign_ids: Sequence[str], study: str | None
) -> list[Run]:
    """The campaign runs asked for: by id, by study, both, or (neither) the latest campaign's study.

    Raises ConfigError naming what is missing and what exists, before anything is drawn.
    """
    if study is not None:
        experiment = client.get_experiment_by_name(study)
        if experiment is None:
            known = sorted(e.name for e in client.search_experiments())
            raise ConfigError(f"--study {study!r}: no such study; known studies: {known}")
        experiments = [experiment.experiment_id]
    else:
        experiments = _all_experiment_ids(client)
    if not experiments:
        raise ConfigError("the tracking store holds no studies yet; run a campaign first")
    if campaign_ids:
        runs = []
        for campaign_id in dict.fromkeys(campaign_ids):
            found = client.search_runs(
                experiments,
                f"{_CAMPAIGN} and tags.`electroloop.campaign_id` = {_quoted(campaign_id)}",
            )
            if not found:
                where = f"study {study!r}" if study else "any study"
                raise ConfigError(f"campaign {campaign_id!r}: not found in {where}")
            runs.append(found[0])
        return runs
    if study is None:
        latest = client.search_runs(experiments, _CAMPAIGN, order_by=["start_time DESC"])
        if not latest:
            raise ConfigError("the tracking store holds no campaigns yet; run a campaign first")
        experiments = [latest[0].info.experiment_id]
    runs = client.search_runs(experiments, _CAMPAIGN, order_by=["start_time ASC"])
    if not runs:
        raise ConfigError(f"study {study!r} holds no campaigns yet")
    return list(runs)


def campaign_history(client: MlflowClient, run: Run) -> CampaignHistory:
    """One campaign run as the comparison needs it (see docs/mlflow.md for the keys)."""
    tags, metrics = run.data.tags, run.data.metrics
    # Campaigns recorded before the primary metric was tagged have only their best_* curve.
    recorded = sorted(k.removeprefix("best_") for k in metrics if k.startswith("best_"))
    metric = tags.get("electroloop.primary_metric") or (recorded[0] if recorded else None)
    if metric is None:
        raise ConfigError(
            f"campaign run {run.info.run_name!r} ({run.info.run_id}) has no best_<objective> "
            "metric; it did not record a single trial"
        )
    history = sorted(
        client.get_metric_history(run.info.run_id, f"best_{metric}"), key=lambda m: m.step
    )
    length = int(metrics.get("trials", 1 + max((m.step for m in history), default=-1)))
    by_step = {m.step: m.value for m in history}
    best: list[float | None] = []
    for step in range(length):
        best.append(by_step.get(step, best[-1] if best else None))
    end = run.info.end_time
    wall_time = metrics.get("wall_time_s")
    if wall_time is None and end is not None:
        wall_time = (end - run.info.start_time) / 1000
    planner = tags["electroloop.planner"]
    return CampaignHistory(
        campaign_id=tags["electroloop.campaign_id"],
        study=tags.get("electroloop.study", ""),
        planner=planner,
        group=f"{planner}/{tags.get('electroloop.group', run.info.run_id)[:6]}",
        metric=metric,
        unit=tags.get("electroloop.primary_unit", ""),
        maximize=tags.get("electroloop.primary_direction", "maximize") == "maximize",
        best_so_far=tuple(best),
        failures=int(metrics.get("failures", 0)),
        wall_time=wall_time,
        optimum=metrics.get("true_optimum"),
    )


def compare(
    tracking_uri: str,
    campaign_ids: Sequence[str],
    study: str | None,
    out: Path,
    fraction: float = 0.95,
) -> Comparison:
    """Read the campaigns from `tracking_uri`; write the figure, table and CSV into `out`."""
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"--fraction {fraction}; allowed: 0 < fraction <= 1")
    client = open_client(tracking_uri)
    histories = [
        campaign_history(client, r) for r in select_campaign_runs(client, campaign_ids, study)
    ]
    try:
        reference = target_reference(histories)
    except ValueError as exc:
        raise ConfigError(f"cannot compare these campaigns: {exc}") from None
    first = histories[0]
    rows = comparison_rows(histories, fraction)
    table = format_table(
        rows,
        metric=first.metric,
        unit=first.unit,
        reference=reference,
        reference_kind=reference_kind(histories),
        fraction=fraction,
    )
    out.mkdir(parents=True, exist_ok=True)
    studies = sorted({h.study for h in histories})
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    figure = comparison_plot(
        histories,
        out / "comparison.png",
        title=f"{', '.join(studies)}: {len(histories)} campaigns ({stamp})",
    )
    table_file = out / "comparison.txt"
    table_file.write_text(table + "\n", encoding="utf-8")
    csv_file = write_table_csv(rows, out / "comparison.csv")
    return Comparison(histories, table, figure, table_file, csv_file)
