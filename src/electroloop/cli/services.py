"""`electroloop up`, `down` and `serve`: the Prefect and MLflow servers of a home, and the
deployments technicians start from the Prefect UI.
"""

from __future__ import annotations

import argparse
import os

from electroloop.cli.common import Commands, prepare_environment, settings
from electroloop.errors import ConfigError


def add_parser(commands: Commands) -> None:
    up = commands.add_parser(
        "up",
        help="start the Prefect and MLflow servers (project-local data)",
        description="Start a Prefect server and an MLflow tracking server on 127.0.0.1, "
        "keeping their data under the home folder (SQLite by default; PostgreSQL through "
        "ELECTROLOOP_PREFECT_DATABASE_URL / ELECTROLOOP_MLFLOW_BACKEND_URI), and print their "
        "URLs. Later commands in this home use them. Stop them with `electroloop down`.",
    )
    up.add_argument("--prefect-port", type=int, default=4200, help="0: any free port (4200)")
    up.add_argument("--mlflow-port", type=int, default=5000, help="0: any free port (5000)")
    up.add_argument(
        "--host",
        default="127.0.0.1",
        help="address both servers listen on (default 127.0.0.1, this machine only); any other "
        "needs ELECTROLOOP_USERNAME and ELECTROLOOP_PASSWORD set, and both servers ask for them",
    )
    up.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        help="a name other machines reach this one by (its DNS name); repeat for each",
    )
    up.set_defaults(func=run_up)
    down = commands.add_parser(
        "down",
        help="stop the servers `electroloop up` started, and the simulated cycler",
        description="Stop the Prefect and MLflow servers of this home, and the simulated "
        "cycler cycling campaigns started (it ends the cells on it); their data stays.",
    )
    down.set_defaults(func=run_down)
    serve = commands.add_parser(
        "serve",
        help="register the deployments technicians start from the Prefect UI, and run them",
        description="Register the deployments start-campaign/lab, screen-molecules/lab and "
        "resume-campaign/lab with the running Prefect server (see `electroloop up`), each "
        "with a typed form, and run their flows on this machine until Ctrl-C.",
    )
    serve.add_argument("--limit", type=int, default=4, help="flow runs at once (default 4)")
    serve.set_defaults(func=run_serve)


def run_up(args: argparse.Namespace, command_line: str) -> int:
    """Start both servers for this home and print their URLs, data and logs."""
    from electroloop.workflows.services import ServiceConfig, format_services, up

    config = settings(args)
    service_config = ServiceConfig.from_settings(
        config,
        prefect_port=args.prefect_port,
        mlflow_port=args.mlflow_port,
        prefect_database_url=config.prefect_database_url,
        mlflow_backend_uri=config.mlflow_backend_uri,
        host=args.host,
        allowed_hosts=tuple(args.allowed_host),
    )
    print("starting Prefect and MLflow (about 30 s on two cores)...", flush=True)
    print(format_services(up(service_config)))
    return 0


def run_down(args: argparse.Namespace, command_line: str) -> int:
    """Stop this home's servers and its simulated cycler; their data stays."""
    from electroloop.workflows.cycler_service import cycler_process, stop_cycler
    from electroloop.workflows.services import down

    home = settings(args).resolved_home
    for line in down(home):
        print(line)
    cycler = cycler_process(home)
    if cycler is not None and stop_cycler(home):
        print(f"stopped the simulated cycler (pid {cycler.pid}, {cycler.resource})")
    return 0


def run_serve(args: argparse.Namespace, command_line: str) -> int:
    """Serve the deployments against the running Prefect server until Ctrl-C."""
    config = settings(args)
    if args.limit < 1:
        raise ConfigError(f"--limit {args.limit}; allowed: >= 1")
    prepare_environment(config)
    if not os.environ.get("PREFECT_API_URL"):
        raise ConfigError(
            "serve needs a Prefect server: start one with `electroloop up` (or set PREFECT_API_URL)"
        )
    from electroloop.workflows.deployments import serve_deployments

    print(f"Prefect UI: {os.environ['PREFECT_API_URL'].removesuffix('/api')}/v2/deployments")
    serve_deployments(limit=args.limit)
    return 0
