"""`electroloop lab check`: ask every instrument of a lab who it is and what state it is in;
`electroloop lab teach`: read the arm's present pose as a lab-file line."""

from __future__ import annotations

import argparse

from electroloop.cli.common import Commands, add_lab_options, lab_and_campaign


def add_parser(commands: Commands) -> None:
    lab = commands.add_parser("lab", help="the lab's instruments", description="Lab tools.")
    verbs = lab.add_subparsers(dest="lab_command", required=True, metavar="COMMAND")
    check_parser = verbs.add_parser(
        "check",
        help="connect to every instrument of a lab file, print identity and state",
        description="Connect to every instrument of the lab file (starting simulators for those "
        "marked 'sim'), ask each who it is and what state it is in, and exit 1 if any did "
        "not answer.",
    )
    add_lab_options(check_parser)
    check_parser.set_defaults(func=run_check)
    teach_parser = verbs.add_parser(
        "teach",
        help="print the arm's present pose as the lab-file line for PLACE (nothing moves)",
        description="Read where the PreciseFlex arm's gripper is now (TCS `wherec`; jog it to "
        "the place first) and print the line to paste under [arm.positions], e.g. "
        '"rack-1:A1" = [x, y, z, yaw, pitch, roll, config]. Nothing moves; the arm is not homed.',
    )
    teach_parser.add_argument(
        "place", help="rack-<n>:<row><column>, balance, meter, standards or waste"
    )
    add_lab_options(teach_parser)
    teach_parser.set_defaults(func=run_teach)


def run_check(args: argparse.Namespace, command_line: str) -> int:
    """Print each instrument's answer; exit 1 if any did not answer."""
    from electroloop.workflows.lab_tools import check, describe, endpoints, simulators

    lab, spec = lab_and_campaign(args)
    with simulators(lab, spec) as sim:
        results = check(lab, endpoints(lab, spec, sim))
        print(describe(results))
        return 1 if any(r.error for r in results) else 0


def run_teach(args: argparse.Namespace, command_line: str) -> int:
    """Print the arm's present pose for the place named."""
    from electroloop.workflows.lab_tools import taught_line

    lab, _ = lab_and_campaign(args)
    print(taught_line(lab, args.place))
    return 0
