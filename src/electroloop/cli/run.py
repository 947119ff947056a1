"""`electroloop run FILE.toml`: any campaign file, validated before anything starts."""

from __future__ import annotations

import argparse
from pathlib import Path

from electroloop.cli.campaign import run_campaign
from electroloop.cli.common import Commands, add_campaign_options, settings, with_overrides
from electroloop.kinds.registry import load_campaign


def add_parser(commands: Commands) -> None:
    run_parser = commands.add_parser(
        "run", help="run a campaign file", description="Validate and run a campaign TOML file."
    )
    run_parser.add_argument("file", type=Path, help="campaign file, e.g. examples/campaigns/*.toml")
    add_campaign_options(run_parser)
    run_parser.set_defaults(func=run)


def run(args: argparse.Namespace, command_line: str) -> int:
    """Load the file, lay the options given over it, and run it."""
    config = settings(args)
    return run_campaign(with_overrides(load_campaign(args.file), args), config)
