"""`electroloop sim up`: a lab's instrument simulators as servers on loopback, until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from electroloop.cli.common import Commands, add_lab_options, lab_and_campaign


def add_parser(commands: Commands) -> None:
    sim = commands.add_parser(
        "sim", help="instrument simulators", description="Protocol-true instrument simulators."
    )
    verbs = sim.add_subparsers(dest="sim_command", required=True, metavar="COMMAND")
    up = verbs.add_parser(
        "up",
        help="start the simulators of a lab file and print their VISA addresses",
        description="Start every instrument the lab file marks 'sim' as a server on 127.0.0.1, "
        "print each VISA address, and keep them running until Ctrl-C (or --for SECONDS). "
        "With --write, also write a lab file that points at them, for `lab check --lab` or "
        "a campaign's `lab`.",
    )
    add_lab_options(up)
    up.add_argument("--write", type=Path, help="write a lab file with these addresses here")
    up.add_argument("--for", dest="seconds", type=float, help="stop after this many seconds")
    up.set_defaults(func=run_up)


def run_up(args: argparse.Namespace, command_line: str) -> int:
    """Start the simulators, print their addresses, and wait for Ctrl-C, SIGTERM or --for."""
    from electroloop.workflows.lab_tools import endpoints, local_lab_toml, simulators

    lab, spec = lab_and_campaign(args)
    with simulators(lab, spec) as sim:
        points = endpoints(lab, spec, sim)
        width = max(len(p.name) for p in points)
        print(f"lab {lab.name!r}: instrument time runs {lab.speedup:g}x faster than the wall clock")
        for point in points:
            where = point.address if point.simulated else f"{point.address} (real, not started)"
            print(f"  {point.name:<{width}}  {where}")
        if args.write:
            args.write.write_text(local_lab_toml(lab, spec, sim), encoding="utf-8")
            print(f"lab file for these addresses: {args.write}")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        print("running; Ctrl-C stops the simulators", flush=True)
        try:
            stop.wait(args.seconds)
        except KeyboardInterrupt:
            pass
    print("simulators stopped")
    return 0
