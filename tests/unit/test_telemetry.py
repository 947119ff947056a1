"""Telemetry over a real home: a campaign run by the real engine on the simulators, its SQLite
event log and lease book, read back as Prometheus metrics and stale-data tickets."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from electroloop.cli import main
from electroloop.errors import CampaignHalted
from electroloop.instruments.sim.server import Fault
from electroloop.kinds.cycling.alerts import THERMAL_EXCURSION
from electroloop.kinds.electrolyte.campaign import default_campaign
from electroloop.kinds.registry import parse_campaign
from electroloop.orchestrator.alerts import STALE_AFTER, Alert, add_notifier, remove_notifier
from electroloop.orchestrator.lease_queue import LeaseQueue
from electroloop.orchestrator.leases import LeaseBook
from electroloop.settings import Settings
from electroloop.workflows.build import Assembly, assemble
from electroloop.workflows.telemetry import LabCollector, exposition, lab_health, stale_alerts

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(home: Path, at: datetime, stale_after: float = STALE_AFTER) -> Samples:
    """name, sorted labels -> value, parsed back from the exposition text a scraper reads."""
    text = exposition(LabCollector(home, stale_after, clock=lambda: at, services=False))
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Assembly]:
    data = default_campaign().model_dump(mode="json")
    data |= {"planner": "sobol", "budget": 8, "batch_size": 4, "name": "telemetry"}
    with assemble(parse_campaign(data, "test"), Settings(home=tmp_path), "c1", []) as assembly:
        assembly.campaign.start()
        yield assembly


def test_progress_failures_alerts_and_leases_are_metrics(lab: Assembly, tmp_path: Path) -> None:
    loop, sim = lab.campaign, lab.simulator
    assert sim is not None
    first, second, *_ = loop.propose()
    assert loop.run_trial(first).observation is not None
    sim.meter.inject(Fault.GARBAGE)
    assert loop.run_trial(second).failure is not None
    assert loop.alert(Alert(THERMAL_EXCURSION, "cell-7", "51.0 °C in cycle 3"))
    book = LeaseBook(loop.store.location)
    meter = book.acquire("TCPIP::meter", "flow-42", ttl=600).lease
    queue = LeaseQueue(book)
    waiter = threading.Thread(  # another campaign waits its turn at the meter
        target=lambda: LeaseQueue(LeaseBook(loop.store.location)).acquire(
            ["TCPIP::meter"], "flow-43", ttl=600, timeout=30
        )
    )
    waiter.start()
    while not queue.waiting():
        time.sleep(0.01)
    now = datetime.now(UTC)

    m = scrape(tmp_path, now)
    book.release(meter)
    waiter.join(timeout=30)
    book.close()
    waits = (("holder", "flow-43"), ("resources", "TCPIP::meter"))
    assert 0 <= m[("electroloop_instrument_wait_seconds", waits)] < 30

    c = (("campaign", "c1"),)
    assert m[("electroloop_campaign_trials_done_total", c)] == 1
    assert m[("electroloop_campaign_trials_failed_total", c)] == 1
    assert m[("electroloop_campaign_budget_trials", c)] == 8
    assert m[("electroloop_campaign_state", (*c, ("state", "running")))] == 1
    assert m[("electroloop_campaign_state", (*c, ("state", "finished")))] == 0
    assert 0 <= m[("electroloop_campaign_data_age_seconds", c)] < 60
    alerts = (*c, ("rule", "thermal-excursion"), ("severity", "page"))
    assert m[("electroloop_alerts_total", alerts)] == 1
    assert m[("electroloop_instrument_failures_total", (*c, ("role", "measurement")))] == 1
    assert (
        now.timestamp() - 60
        < m[("electroloop_instrument_last_success_timestamp_seconds", (("role", "probe"),))]
        <= now.timestamp()
    )
    held = (("holder", "flow-42"), ("resource", "TCPIP::meter"))
    assert m[("electroloop_instrument_lease_held", held)] == 1
    assert 590 < m[("electroloop_instrument_lease_remaining_seconds", held[1:])] <= 600
    stale = (*c, ("rule", "stale-data"), ("runbook", "docs/runbooks/stale-data.md"))
    assert m[("electroloop_alert_firing", (*stale, ("severity", "ticket")))] == 0


def test_a_campaign_without_new_data_gets_a_stale_data_ticket_until_it_finishes(
    lab: Assembly, tmp_path: Path
) -> None:
    loop = lab.campaign
    for candidate in loop.propose()[:3]:
        assert loop.run_trial(candidate).observation is not None
    stale = (
        ("campaign", "c1"),
        ("rule", "stale-data"),
        ("runbook", "docs/runbooks/stale-data.md"),
        ("severity", "ticket"),
    )
    now = datetime.now(UTC)
    assert (
        scrape(tmp_path, now + timedelta(seconds=100), stale_after=300)[
            ("electroloop_alert_firing", stale)
        ]
        == 0
    )
    later = now + timedelta(seconds=400)
    m = scrape(tmp_path, later, stale_after=300)
    assert m[("electroloop_alert_firing", stale)] == 1
    assert m[("electroloop_campaign_state", (("campaign", "c1"), ("state", "running")))] == 1
    (campaign_id, alert), *others = stale_alerts(lab_health(loop.store.location), later, 300)
    assert (campaign_id, alert.rule.name, alert.subject, others) == ("c1", "stale-data", "c1", [])
    assert "no new data for 7 min" in alert.message
    loop.finish("stopped by the reviewer")  # a finished campaign is not stale, however old
    m = scrape(tmp_path, later, stale_after=300)
    assert m[("electroloop_alert_firing", stale)] == 0
    assert m[("electroloop_campaign_state", (("campaign", "c1"), ("state", "finished")))] == 1


def test_repeated_failures_show_the_campaign_halted(lab: Assembly, tmp_path: Path) -> None:
    loop, sim = lab.campaign, lab.simulator
    assert sim is not None
    batch = loop.propose()
    with pytest.raises(CampaignHalted):
        for candidate in batch:
            sim.meter.inject(Fault.ERROR)
            loop.run_trial(candidate)
    m = scrape(tmp_path, datetime.now(UTC) + timedelta(days=1))
    assert m[("electroloop_campaign_state", (("campaign", "c1"), ("state", "halted")))] == 1
    # a halted campaign waits for a person who has a page already; no stale ticket on top
    assert not stale_alerts(lab_health(loop.store.location), datetime.now(UTC) + timedelta(days=1))


def test_a_failing_notifier_never_stops_the_campaign(
    lab: Assembly, caplog: pytest.LogCaptureFixture
) -> None:
    heard: list[tuple[str, str]] = []

    def webhook_down(campaign_id: str, alert: Alert) -> None:
        raise ConnectionError("webhook unreachable")

    def inbox(campaign_id: str, alert: Alert) -> None:
        heard.append((campaign_id, alert.subject))

    add_notifier(webhook_down)
    add_notifier(inbox)
    try:
        with caplog.at_level(logging.ERROR):
            assert lab.campaign.alert(Alert(THERMAL_EXCURSION, "cell-1", "hot"))
            assert not lab.campaign.alert(Alert(THERMAL_EXCURSION, "cell-1", "still hot"))
    finally:
        remove_notifier(webhook_down)
        remove_notifier(inbox)
    assert heard == [("c1", "cell-1")]  # once per rule and subject, like the log
    assert "webhook unreachable" in caplog.text
    assert [a.subject for a in lab.campaign.store.state("c1").alerts] == ["cell-1"]


def test_the_cli_prints_the_exposition_and_refuses_a_bad_port(
    lab: Assembly, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = ["--home", str(tmp_path), "metrics"]
    assert main([*home, "--once"]) == 0
    out = capsys.readouterr().out
    assert 'electroloop_campaign_budget_trials{campaign="c1"} 8.0' in out
    assert "# HELP electroloop_campaign_data_age_seconds Seconds since" in out
    assert 'electroloop_service_up{service="prefect"} 0.0' in out  # no `electroloop up` here
    assert main([*home, "--port", "70000"]) == 2
    assert "--port 70000; allowed: 0..65535" in capsys.readouterr().err
    assert main([*home, "--host", "0.0.0.0"]) == 2
    assert "allowed: a loopback address" in capsys.readouterr().err
