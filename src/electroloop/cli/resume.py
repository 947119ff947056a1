"""`electroloop resume ID`: continue a campaign whose run died, from the project's event log."""

from __future__ import annotations

import argparse

from electroloop.cli.campaign import run_campaign
from electroloop.cli.common import Commands, settings
from electroloop.kinds.electrolyte.campaign import ElectrolyteCampaign
from electroloop.kinds.registry import design_types, parse_campaign
from electroloop.settings import Settings


def add_parser(commands: Commands) -> None:
    resume = commands.add_parser(
        "resume",
        help="continue a campaign whose run died, from its event log",
        description="Continue a campaign whose flow died (worker killed, machine rebooted): "
        "its planner is restored from the log, a vial dosed but not measured is measured, "
        "nothing measured is run again. Waits for the dead run's leases to expire.",
    )
    resume.add_argument("campaign_id", help="the id printed when the campaign started")
    resume.set_defaults(func=run)


def stored_campaign(settings: Settings, campaign_id: str) -> ElectrolyteCampaign:
    """The spec a campaign in the project's event log started with."""
    from electroloop.orchestrator.store import CampaignStore

    with CampaignStore(settings.store, designs=design_types()) as store:
        return parse_campaign(store.started_spec(campaign_id), f"campaign {campaign_id}")


def run(args: argparse.Namespace, command_line: str) -> int:
    """Resume the campaign with the spec it started with (the summary needs its goal)."""
    config = settings(args)
    return run_campaign(stored_campaign(config, args.campaign_id), config, args.campaign_id)
