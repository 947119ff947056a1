"""`electroloop demo`: the embedded conductivity campaign on simulated instruments."""

from __future__ import annotations

import argparse

from electroloop.cli.campaign import run_campaign
from electroloop.cli.common import Commands, add_campaign_options, settings, with_overrides
from electroloop.kinds.electrolyte.campaign import default_campaign


def add_parser(commands: Commands) -> None:
    demo = commands.add_parser(
        "demo",
        help="dry-run the embedded campaign (24 trials, Ax, simulated instruments)",
        description="Run the embedded conductivity campaign (LiPF6 in EC/EMC/DMC at 25 °C) "
        "against protocol-true simulators, then compare the best formulation "
        "found with the simulator's true optimum.",
    )
    add_campaign_options(demo)
    demo.set_defaults(func=run)


def run(args: argparse.Namespace, command_line: str) -> int:
    """Run the embedded campaign with the options given over it."""
    config = settings(args)
    return run_campaign(with_overrides(default_campaign(), args), config)
