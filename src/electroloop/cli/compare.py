"""`electroloop compare`: campaigns recorded in MLflow, side by side (figure and table)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from electroloop.cli.common import Commands, prepare_environment, settings


def add_parser(commands: Commands) -> None:
    compare = commands.add_parser(
        "compare",
        help="compare campaigns recorded in MLflow (figure + table)",
        description="Read campaigns from an MLflow tracking URI and write a comparison figure "
        "(best-so-far curves overlaid, repeats of one design shaded over seeds) and a table "
        "(best value, experiments to 95 %%, wall time, failures) to the terminal and to files. "
        "Without CAMPAIGN or --study: every campaign of the most recent campaign's study.",
    )
    compare.add_argument("campaigns", nargs="*", metavar="CAMPAIGN", help="campaign ids")
    compare.add_argument("--study", help="compare every campaign of this study (MLflow experiment)")
    compare.add_argument(
        "--tracking-uri",
        help="MLflow tracking URI, e.g. http://127.0.0.1:5000 or sqlite:///runs/mlflow.db "
        "(default: the project's, ELECTROLOOP_TRACKING_URI)",
    )
    compare.add_argument(
        "--out", type=Path, help="folder for the outputs (default: <home>/comparisons/<time>)"
    )
    compare.add_argument(
        "--fraction",
        type=float,
        default=0.95,
        help="'experiments to' this fraction of the reference (default 0.95)",
    )
    compare.set_defaults(func=run)


def run(args: argparse.Namespace, command_line: str) -> int:
    """Print the table and where the figure and files are."""
    config = prepare_environment(settings(args))
    from electroloop.workflows.compare import compare  # imports MLflow: only when asked

    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = args.out or config.resolved_home / "comparisons" / stamp
    result = compare(
        args.tracking_uri or config.resolved_tracking_uri,
        args.campaigns,
        args.study,
        out,
        args.fraction,
    )
    print(result.table)
    print()
    print(f"figure: {result.figure}")
    print(f"table:  {result.table_file}  (CSV: {result.csv_file})")
    return 0
