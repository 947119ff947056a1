"""`electroloop screen LIBRARY.smi`: rank a SMILES library with a registered molecule surrogate."""

from __future__ import annotations

import argparse
from pathlib import Path

from electroloop.cli.common import Commands, prepare_environment, settings


def add_parser(commands: Commands) -> None:
    screen = commands.add_parser(
        "screen",
        help="rank a SMILES library with a molecule surrogate",
        description="Score every molecule of a .smi file (SMILES and optional name per line) "
        "with a registered molecule surrogate, chunked and in parallel, and rank by the upper "
        "(or lower, --minimize) confidence bound.",
    )
    screen.add_argument("library", type=Path, help="LIBRARY.smi")
    screen.add_argument("--model", required=True, help="registered molecule surrogate")
    screen.add_argument("--version", default="latest", help="a version number or latest")
    screen.add_argument("--top", type=int, default=20, help="rows to print (20)")
    screen.add_argument("--out", type=Path, help="CSV of every row (default under home)")
    screen.add_argument("--minimize", action="store_true", help="lower is better")
    screen.add_argument("--kappa", type=float, default=1.0, help="score = mean ± kappa·std")
    screen.add_argument("--workers", type=int, default=2, help="featurising processes (2)")
    screen.set_defaults(func=run)


def run(args: argparse.Namespace, command_line: str) -> int:
    """Score, rank, print the top rows and write every row."""
    config = prepare_environment(settings(args))
    from electroloop.workflows import surrogate_commands  # torch: only when asked

    surrogate_commands.screen_library(
        args.library,
        args.model,
        args.version,
        config,
        out=args.out,
        top=args.top,
        minimize=args.minimize,
        kappa=args.kappa,
        workers=args.workers,
    )
    return 0
