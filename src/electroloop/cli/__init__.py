"""`electroloop` command line: `demo` runs the embedded dry run, `run FILE.toml` runs any campaign,
`resume ID` continues one whose run died, `up`/`down` start and stop the Prefect and MLflow
servers, `serve` registers the deployments technicians start from the Prefect UI, `compare`
compares campaigns recorded in MLflow, `sim up` starts a lab's instrument simulators,
`lab check` looks at every instrument of a lab, `cells import` reads a lab's own cycler files,
`electrode converge` sizes microstructure cubes, `bench planners` benchmarks planners on the
simulator and writes the result to BENCHMARKS.md.

One module per verb: each adds its parser (`add_parser`) and names the function that runs it
(`func`). Campaign files are validated before Prefect, MLflow or any instrument starts, so a typo
costs a second, not a minute. Prefect and MLflow keep their data under the project-local home
folder.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from electroloop import __version__
from electroloop.cli import (
    bench,
    cells,
    compare,
    demo,
    electrode,
    lab,
    metrics,
    resume,
    run,
    screen,
    services,
    sim,
    surrogate,
)
from electroloop.cli.common import Commands, Handler
from electroloop.errors import ElectroloopError

__all__ = ["build_parser", "main"]

VERBS: tuple[Callable[[Commands], None], ...] = (
    demo.add_parser,
    run.add_parser,
    resume.add_parser,
    services.add_parser,  # up, down, serve
    surrogate.add_parser,
    screen.add_parser,
    compare.add_parser,
    sim.add_parser,
    lab.add_parser,
    cells.add_parser,
    electrode.add_parser,
    bench.add_parser,
    metrics.add_parser,  # metrics, notifications
)
"""Every verb's parser, in the order `electroloop --help` lists them."""


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: global options, then each verb's parser."""
    parser = argparse.ArgumentParser(
        prog="electroloop", description="Self-driving-lab orchestrator for electrolyte discovery."
    )
    parser.add_argument("--version", action="version", version=f"electroloop {__version__}")
    parser.add_argument("--home", type=Path, help="folder for run data (default: ./runs)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_parser in VERBS:
        add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse, run the verb, and turn an electroloop error into a message and exit code 2."""
    args = build_parser().parse_args(argv)
    words = sys.argv[1:] if argv is None else argv
    handler: Handler = args.func
    try:
        return handler(args, shlex.join(["electroloop", *words]))
    except ElectroloopError as exc:
        print(f"electroloop: error: {exc}", file=sys.stderr)
        return 2
