"""What several verbs share: the handler signature, settings and the environment Prefect and
MLflow must see before they are imported, the campaign overrides of `demo` and `run`, and the lab
options of `sim up` and `lab check`.
"""

from __future__ import annotations

import argparse
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeAlias

from electroloop.kinds.electrolyte.campaign import ElectrolyteCampaign, default_campaign
from electroloop.kinds.registry import load_campaign, parse_campaign
from electroloop.settings import LabFile, Settings, load_lab

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What `add_subparsers` returns: each verb module adds its parser to it."""

Handler: TypeAlias = Callable[[argparse.Namespace, str], int]
"""What a verb sets as `func`: it gets the parsed options and the command line as typed
(`bench` records it next to its results) and returns the exit code."""


def settings(args: argparse.Namespace) -> Settings:
    """The settings of this call: the environment's, with `--home` over its home."""
    return Settings(**({"home": args.home} if args.home else {}))


def stop_orphaned_servers(prefect_home: Path) -> None:
    """Stop the temporary Prefect servers a killed run of this home left holding ports."""
    from electroloop.workflows.processes import orphaned_prefect_servers

    for pid in orphaned_prefect_servers(prefect_home):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        print(f"stopped a temporary Prefect server (pid {pid}) that a killed run left behind")


def prepare_environment(settings: Settings) -> Settings:
    """Point Prefect and MLflow at project-local folders before either is imported; when
    `electroloop up` runs servers for this home, at those (unless the environment says
    otherwise). Returns the settings as the flows will see them."""
    from electroloop.workflows.services import client_environment, credentials, running

    home = settings.resolved_home
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(settings.resolved_prefect_home))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    # A temporary server's UI is same-origin; no other web page may call its API.
    os.environ.setdefault("PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS", "http://127.0.0.1")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    os.environ["ELECTROLOOP_HOME"] = str(home)
    stop_orphaned_servers(Path(os.environ["PREFECT_HOME"]))
    services = running(home)
    if services is not None:
        for key, value in client_environment(services).items():
            os.environ.setdefault(key, value)
    lab_credentials = credentials(settings)
    if lab_credentials is not None:  # servers that ask for them (`electroloop up`)
        for key, value in lab_credentials.environment().items():
            os.environ.setdefault(key, value)
    return Settings(home=settings.home)


def add_campaign_options(parser: argparse.ArgumentParser) -> None:
    """The options `demo` and `run` lay over a campaign file."""
    parser.add_argument("--budget", type=int, help="number of trials")
    parser.add_argument("--batch-size", type=int, help="candidates per iteration (1-16)")
    parser.add_argument("--planner", help="ax | sobol | random | package.module:ClassName")
    parser.add_argument("--seed", type=int, help="planner seed")
    parser.add_argument("--name", help="campaign name")
    parser.add_argument("--lab", help="'simulated' or a lab file, e.g. lab.toml (see lab check)")


def campaign_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The campaign options given; a lab file is resolved against where the command runs, since
    the flow may run elsewhere."""
    keys = ("budget", "batch_size", "planner", "seed", "name")
    overrides = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    if getattr(args, "lab", None):
        lab = args.lab
        overrides["lab"] = lab if lab == "simulated" else str(Path(lab).resolve())
    return overrides


def with_overrides(spec: ElectrolyteCampaign, args: argparse.Namespace) -> ElectrolyteCampaign:
    """`spec` with the campaign options given, validated again as a whole."""
    overrides = campaign_overrides(args)
    if not overrides:
        return spec
    return parse_campaign(spec.model_dump(mode="json") | overrides, "command-line options")


def add_lab_options(parser: argparse.ArgumentParser) -> None:
    """The options `sim up` and `lab check` share: which lab, and which campaign's bottles."""
    parser.add_argument(
        "--lab", type=Path, help="lab file (default: the embedded lab.sim.toml, all simulated)"
    )
    parser.add_argument(
        "--campaign",
        type=Path,
        help="campaign whose stock bottles need pumps (default: the embedded demo campaign)",
    )


def lab_and_campaign(args: argparse.Namespace) -> tuple[LabFile, ElectrolyteCampaign]:
    """The lab and campaign the lab options name, or the embedded ones."""
    lab = load_lab(args.lab)
    spec = load_campaign(args.campaign) if args.campaign else default_campaign()
    return lab, spec
