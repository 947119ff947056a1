"""Alerts reach the lab's webhook through a real Prefect server: event, automation, webhook
block. The webhook is a plain HTTP server on loopback that records what it is sent."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from electroloop.instruments.cycler import CycleRecord
from electroloop.kinds.cycling.alerts import CHANNEL_TRIPPED, record_alerts
from electroloop.kinds.cycling.spec import CHEMISTRIES
from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.kinds.registry import parse_campaign
from electroloop.orchestrator.alerts import Alert
from electroloop.settings import Settings
from electroloop.workflows import notifications
from electroloop.workflows.build import Assembly, assemble

DELIVERY = 60.0
"""Seconds an alert may take to reach the webhook: Prefect's trigger and action services run
in the server process; on two busy cores it took 0.1-0.3 s, the bound is for a loaded CI."""


class Webhook:
    """An incoming webhook on 127.0.0.1 that queues each POSTed JSON body."""

    def __init__(self) -> None:
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.put(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self, timeout: float = DELIVERY) -> dict[str, Any]:
        return self.received.get(timeout=timeout)


@pytest.fixture
def webhook(prefect_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Webhook]:
    monkeypatch.setenv("PREFECT_API_URL", prefect_server)  # what `electroloop up` exports
    hook = Webhook()
    first = notifications.ensure_automations(hook.url)
    assert notifications.ensure_automations(hook.url) == first  # idempotent: updated, not added
    yield hook
    hook.server.shutdown()


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Assembly]:
    data = default_campaign().model_dump(mode="json") | {"planner": "sobol", "budget": 4}
    with assemble(parse_campaign(data, "test"), Settings(home=tmp_path), "c1", []) as assembly:
        assembly.campaign.start()
        yield assembly


def test_a_thermal_excursion_pages_the_lab_webhook_with_its_runbook(
    webhook: Webhook, lab: Assembly
) -> None:
    hot = CycleRecord(12, 3600.0, 3, 1, 0.002, 3.9, 0.001, 0.004, 36.5)  # 25 °C campaign
    (alert,) = record_alerts("cell-7", [hot], 25.0, CHEMISTRIES["graphite-nmc811"])
    notifications.install()  # as `assemble` does for every campaign
    try:
        sent = time.monotonic()
        assert lab.campaign.alert(alert)  # recorded, then emitted as a Prefect event
        message = webhook.next()
        latency = time.monotonic() - sent
    finally:
        notifications.uninstall()
    assert message["subject"] == "PAGE thermal-excursion (cell-7)"
    assert "campaign c1" in message["body"] and "36.5 °C in cycle 3" in message["body"]
    assert "runbook: docs/runbooks/thermal-excursion.md" in message["body"]
    print(f"alert to webhook: {latency:.1f} s")


def test_the_exporter_forwards_new_alerts_and_files_a_stale_data_ticket_once(
    webhook: Webhook, lab: Assembly
) -> None:
    """`electroloop metrics`' forwarder, for a campaign whose own process sends nothing: a new
    alert in the log, and a silence past the threshold, each reach the webhook once, however
    often it looks (and an alert the log held before it first started is old news)."""
    notifications.uninstall()  # a campaign process that sends nothing (stuck, or Prefect-less)
    loop, home = lab.campaign, Path(lab.campaign.store.location).parent
    loop.alert(Alert(CHANNEL_TRIPPED, "cell-1", "TEMP_HIGH: 50.00 C > 45.00 C"))
    forwarder = notifications.AlertForwarder(home, stale_after=600)
    assert forwarder.poll(datetime.now(UTC)) == []
    loop.alert(Alert(CHANNEL_TRIPPED, "cell-2", "VOLT_HIGH: 4.31 V > 4.25 V"))
    later = datetime.now(UTC) + timedelta(minutes=15)
    sent = forwarder.poll(later)
    assert sorted((a.rule.name, a.subject) for a in sent) == [
        ("channel-tripped", "cell-2"),
        ("stale-data", "c1"),
    ]
    assert forwarder.poll(later) == []
    assert notifications.AlertForwarder(home, stale_after=600).poll(later) == []  # restarted
    page, ticket = sorted((webhook.next(), webhook.next()), key=lambda m: m["subject"])
    assert page["subject"] == "PAGE channel-tripped (cell-2)"
    assert "VOLT_HIGH" in page["body"] and "docs/runbooks/channel-tripped.md" in page["body"]
    assert ticket["subject"] == "TICKET stale-data (c1)"
    assert "no new data for 15 min" in ticket["body"]
    assert "runbook: docs/runbooks/stale-data.md" in ticket["body"]
    with pytest.raises(queue.Empty):
        webhook.next(timeout=2.0)  # nothing more: cell-1's old page was not resent
