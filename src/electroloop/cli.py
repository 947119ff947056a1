"""`electroloop` command line: `demo` runs the embedded dry run, `run FILE.toml` runs any campaign.

Campaign files are validated before Prefect, MLflow or any instrument starts, so a typo costs a
second, not a minute. Prefect and MLflow keep their data under the project-local home folder.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from electroloop import __version__
from electroloop.errors import ElectroloopError
from electroloop.models import Formulation
from electroloop.orchestrator.campaign import (
    CampaignSpec,
    default_campaign,
    load_campaign,
    parse_campaign,
)
from electroloop.settings import Settings


def prepare_environment(settings: Settings) -> None:
    """Point Prefect and MLflow at project-local folders before either is imported."""
    home = settings.resolved_home
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(settings.resolved_prefect_home))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    os.environ["ELECTROLOOP_HOME"] = str(home)


def _describe(formulation: Formulation) -> str:
    mix = ", ".join(f"{name} {value:.3f}" for name, value in formulation.fractions.items())
    return f"{mix} (mass fractions); {formulation.salt} {formulation.molality:.3f} mol/kg"


def run_campaign(spec: CampaignSpec, settings: Settings) -> int:
    """Run a validated campaign through Prefect and print where its results are."""
    prepare_environment(settings)
    from electroloop.workflows.flows import conductivity_campaign  # imports Prefect: after env

    summary = conductivity_campaign(spec)
    print()
    print(
        f"campaign {summary.campaign_id}: {summary.trials} trials, {summary.failures} failed, "
        f"{summary.wall_time:.1f} s"
    )
    if summary.best is not None:
        value = summary.best.values[spec.goal.primary.name]
        print(f"best found:      {value:.3f} mS/cm  {_describe(summary.best.formulation)}")
        if summary.best.as_dosed is not None:
            print(f"  as dosed:      {_describe(summary.best.as_dosed)}")
    if summary.true_optimum is not None and summary.true_optimum_value is not None:
        print(
            f"true optimum:    {summary.true_optimum_value:.3f} mS/cm  "
            f"{_describe(summary.true_optimum)}  (simulator)"
        )
        if summary.best_true_value is not None:
            gap = 1.0 - summary.best_true_value / summary.true_optimum_value
            print(
                f"gap to optimum:  {100 * gap:.2f} % (noise-free σ of the best sample as dosed: "
                f"{summary.best_true_value:.3f} mS/cm)"
            )
    print(f"convergence plot: {summary.plot}")
    print(f"event log:        {summary.store}")
    print(
        f"MLflow:           {settings.resolved_tracking_uri} "
        f"(experiment {spec.study}, run {summary.mlflow_run_id})"
    )
    return 0


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("budget", "batch_size", "planner", "seed", "name")
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}


def _add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--budget", type=int, help="number of trials")
    parser.add_argument("--batch-size", type=int, help="candidates per iteration (1-16)")
    parser.add_argument("--planner", help="ax | sobol | random | package.module:ClassName")
    parser.add_argument("--seed", type=int, help="planner seed")
    parser.add_argument("--name", help="campaign name")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="electroloop", description="Self-driving-lab orchestrator for electrolyte discovery."
    )
    parser.add_argument("--version", action="version", version=f"electroloop {__version__}")
    parser.add_argument("--home", type=Path, help="folder for run data (default: ./runs)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="dry-run the embedded campaign (24 trials, Ax, simulated instruments)",
        description="Run the embedded conductivity campaign (LiPF6 in EC/EMC/DMC at 25 °C) "
        "against protocol-true simulators, then compare the best formulation "
        "found with the simulator's true optimum.",
    )
    _add_overrides(demo)
    run = commands.add_parser(
        "run", help="run a campaign file", description="Validate and run a campaign TOML file."
    )
    run.add_argument("file", type=Path, help="campaign file, e.g. examples/campaigns/*.toml")
    _add_overrides(run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings(**({"home": args.home} if args.home else {}))
        spec = default_campaign() if args.command == "demo" else load_campaign(args.file)
        overrides = _overrides(args)
        if overrides:
            spec = parse_campaign(spec.model_dump(mode="json") | overrides, "command-line options")
        return run_campaign(spec, settings)
    except ElectroloopError as exc:
        print(f"electroloop: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
