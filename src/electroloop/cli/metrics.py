"""`electroloop metrics`: the home's telemetry as Prometheus metrics, printed once or served on
loopback; `electroloop notifications`: the Prefect automations that send alerts to a webhook.

Served, it also forwards alerts (the log's and the observer-side stale-data tickets) to
Prefect as events when a Prefect server runs for this home (`docs/telemetry.md`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from electroloop.cli.common import Commands, settings
from electroloop.errors import ConfigError
from electroloop.orchestrator.alerts import STALE_AFTER

PORT = 9464
"""Default port: the one Prometheus' port registry lists for OpenTelemetry's Prometheus
exporter (github.com/prometheus/prometheus/wiki/Default-port-allocations); any free port works."""
INTERVAL = 30.0
"""Seconds between two looks for alerts to forward: well under a ticket's urgency, and each
look reads the whole log (milliseconds for a lab's thousands of events)."""


def add_parser(commands: Commands) -> None:
    metrics = commands.add_parser(
        "metrics",
        help="campaign, instrument and server health as Prometheus metrics",
        description="Serve this home's telemetry (campaign progress, data freshness, alerts, "
        "instrument faults and leases, server uptime) as Prometheus metrics on "
        "http://127.0.0.1:PORT/metrics until Ctrl-C, or print them once with --once. While "
        "served, alerts and stale-data tickets go to the Prefect server `electroloop up` runs, "
        "as events the automations of `electroloop notifications` send on.",
    )
    metrics.add_argument("--once", action="store_true", help="print the metrics once and exit")
    metrics.add_argument(
        "--port", type=int, default=PORT, help=f"port on 127.0.0.1; 0: any free one ({PORT})"
    )
    metrics.add_argument(
        "--host", default="127.0.0.1", help="loopback address to listen on (127.0.0.1)"
    )
    metrics.add_argument(
        "--stale-after",
        type=float,
        default=STALE_AFTER,
        help=f"seconds without new data before a running campaign gets a stale-data ticket "
        f"({STALE_AFTER:g})",
    )
    metrics.set_defaults(func=run_metrics)
    notifications = commands.add_parser(
        "notifications",
        help="create the Prefect automations that send alerts to the lab's webhook",
        description="Create or update, on the Prefect server `electroloop up` runs, a Custom "
        "Webhook block posting to ELECTROLOOP_ALERT_WEBHOOK_URL (or --webhook-url) and two "
        "automations, one for pages and one for tickets. Idempotent.",
    )
    notifications.add_argument("--webhook-url", help="default: ELECTROLOOP_ALERT_WEBHOOK_URL")
    notifications.set_defaults(func=run_notifications)


def _check(args: argparse.Namespace) -> None:
    port = args.port
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port}; allowed: 0..65535 (0: any free port)")
    from electroloop.workflows.services import is_loopback

    if not is_loopback(args.host):
        raise ConfigError(
            f"--host {args.host}; allowed: a loopback address (127.0.0.1, ::1): the metrics "
            "name campaigns and instruments, so a reverse proxy or Prometheus on this PC "
            "reads them, not the network"
        )
    if not args.stale_after > 0:
        raise ConfigError(f"--stale-after {args.stale_after}; allowed: seconds > 0")


def run_metrics(args: argparse.Namespace, command_line: str) -> int:
    """Print the exposition once, or serve it (and forward alerts) until Ctrl-C."""
    _check(args)
    from prometheus_client import CollectorRegistry, start_http_server

    from electroloop.workflows.services import client_environment, running
    from electroloop.workflows.telemetry import LabCollector, exposition

    lab = settings(args)
    home = lab.resolved_home
    collector = LabCollector(home, stale_after=args.stale_after, store=lab.store)
    if args.once:
        sys.stdout.write(exposition(collector).decode())
        return 0
    services = running(home)  # forward alerts to this home's Prefect server, if it runs
    if services is not None:
        for key, value in client_environment(services).items():
            os.environ.setdefault(key, value)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    try:
        server, _ = start_http_server(args.port, addr=args.host, registry=registry)
    except OSError as exc:
        raise ConfigError(f"--port {args.port}: cannot listen on {args.host} ({exc})") from None
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"metrics: http://{host}:{server.server_port}/metrics (Ctrl-C stops)", flush=True)
    forwarder = None
    if os.environ.get("PREFECT_API_URL"):
        from electroloop.workflows.notifications import AlertForwarder

        forwarder = AlertForwarder(home, args.stale_after, store=lab.store)
        print(f"alerts: forwarded to Prefect at {os.environ['PREFECT_API_URL']}", flush=True)
    try:
        while True:
            if forwarder is not None:
                for alert in forwarder.poll():
                    print(alert.line(), flush=True)
            time.sleep(INTERVAL)
    except KeyboardInterrupt:
        return 0
    finally:
        server.shutdown()


def run_notifications(args: argparse.Namespace, command_line: str) -> int:
    """Create or update the alert automations on this home's Prefect server."""
    from electroloop.cli.common import prepare_environment

    prepare_environment(settings(args))
    from electroloop.workflows.notifications import ensure_automations

    for name, automation_id in ensure_automations(args.webhook_url).items():
        print(f"automation {name!r}: {automation_id}")
    return 0
