"""The command line is assembled from one module per verb: every verb is there, in the order
`electroloop --help` has always listed them, and each one runs its own module's function."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from electroloop import __version__
from electroloop.cli import bench, build_parser, demo, lab, main, services, sim, surrogate

VERBS = ["demo", "run", "resume", "up", "down", "serve", "surrogate", "screen", "compare", "sim"]
VERBS += ["lab", "cells", "electrode", "bench", "metrics", "notifications"]


def _verbs(parser: argparse.ArgumentParser) -> list[str]:
    (commands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(commands.choices)


def test_every_verb_is_registered_in_the_documented_order() -> None:
    assert _verbs(build_parser()) == VERBS


@pytest.mark.parametrize(
    ("argv", "handler"),
    [
        (["demo"], demo.run),
        (["up"], services.run_up),
        (["down"], services.run_down),
        (["serve"], services.run_serve),
        (["surrogate", "train", "mixture"], surrogate.train),
        (["surrogate", "evaluate", "conductivity"], surrogate.evaluate),
        (["surrogate", "predict", "conductivity", "CCO"], surrogate.predict),
        (["sim", "up"], sim.run_up),
        (["lab", "check"], lab.run_check),
        (["bench", "planners"], bench.run_planners),
    ],
)
def test_each_verb_runs_its_own_module(argv: list[str], handler: object) -> None:
    assert build_parser().parse_args(argv).func is handler


def test_the_handler_gets_the_command_line_as_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def record(args: argparse.Namespace, command_line: str) -> int:
        seen.append(command_line)
        return 3

    monkeypatch.setattr(demo, "run", record)  # demo.add_parser names demo.run when it runs
    assert main(["--home", "a b", "demo", "--budget", "4"]) == 3
    assert seen == ["electroloop --home 'a b' demo --budget 4"]


def test_python_dash_m_runs_the_same_command_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "electroloop.cli", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and done.stdout == f"electroloop {__version__}\n"
