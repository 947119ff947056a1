"""Telemetry: a home's campaigns, instruments and servers as Prometheus metrics.

Everything is computed at scrape time from what the lab already keeps, the event log and the
lease book (`campaigns.sqlite`) and the servers `electroloop up` recorded, so the exporter is
a separate, read-only process: it keeps answering when a campaign's process hangs or dies,
which is exactly when freshness matters. It writes nothing to the log.

Names follow Prometheus' conventions (https://prometheus.io/docs/practices/naming/): an
`electroloop_` prefix, base units in the name (`_seconds`, `_timestamp_seconds`), `_total` on
counters. The observer-side alerting rule, `alerts.STALE_DATA`, is evaluated here too
(`stale_alerts`); `docs/telemetry.md` lists every metric and rule.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from electroloop.kinds.registry import design_types
from electroloop.orchestrator.alerts import STALE_AFTER, STALE_DATA, Alert, AlertRule
from electroloop.orchestrator.closed_loop import (  # the engine's halting rule, reused as is
    REPEATED_FAILURES,
    _failure_kind,
)
from electroloop.orchestrator.database import is_postgres
from electroloop.orchestrator.events import (
    AlertRaised,
    CampaignFinished,
    CampaignResumed,
    CampaignStarted,
    CandidateAbandoned,
    CandidateFailed,
    CellAssembled,
    CellFinished,
    Event,
    ObservationAdded,
)
from electroloop.orchestrator.lease_queue import LeaseQueue
from electroloop.orchestrator.leases import LeaseBook
from electroloop.orchestrator.store import CampaignStore
from electroloop.workflows.cycler_service import cycler_process
from electroloop.workflows.services import running

__all__ = [
    "DATA_EVENTS",
    "CampaignHealth",
    "LabCollector",
    "campaign_health",
    "exposition",
    "lab_health",
    "stale_alerts",
]

DATA_EVENTS = frozenset(
    {
        "dosing_recorded",
        "measurement_recorded",
        "observation_added",
        "interim_observation",
        "cell_finished",
        "standard_checked",
    }
)
"""Event kinds that carry new data from an instrument: what data freshness is measured by."""

ROLES = {
    "dosing_recorded": "dosing",
    "measurement_recorded": "probe",
    "standard_checked": "probe",
    "cell_assembled": "cycler",
    "phase_started": "cycler",
    "interim_observation": "cycler",
    "cell_finished": "cycler",
}
"""The instrument role an event shows working (the log names roles, not serial numbers)."""

State = Literal["running", "finished", "halted"]
STATES: tuple[State, ...] = ("running", "finished", "halted")


def _now() -> datetime:
    return datetime.now(UTC)


def failure_role(reason: str) -> str:
    """The stage a trial failure names: 'dosing failed: ...' -> 'dosing'; else 'other'."""
    match = re.match(r"([a-z][a-z ]*?) failed\b", reason)
    if match:
        return match.group(1)
    if "did not reach" in reason:
        return "sample handling"
    return "other"


@dataclass
class CampaignHealth:
    """One campaign as the exporter sees it: progress, state, freshness, alerts, faults."""

    id: str
    kind: str = ""
    planner: str = ""
    budget: int = 0
    done: int = 0
    failed: int = 0
    abandoned: int = 0
    state: State = "running"
    last_data: datetime | None = None
    """When it last recorded instrument data (or started or resumed, if later)."""
    cells_cycling: int = 0
    alerts: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(rule, severity) -> alerts recorded in its log."""
    raised: list[Alert] = field(default_factory=list)
    """The alerts recorded in its log, in order (what `AlertForwarder` sends)."""
    failures: Counter[str] = field(default_factory=Counter)
    """Failed trials by the stage their reason names (`failure_role`)."""
    last_success: dict[str, datetime] = field(default_factory=dict)
    """Instrument role -> when an event last showed it working."""


def campaign_health(campaign_id: str, timeline: Sequence[tuple[Event, datetime]]) -> CampaignHealth:
    """Fold one campaign's events (with the time each was recorded) into its health."""
    health = CampaignHealth(campaign_id)
    ended: list[str | None] = []  # failure kind of each ended trial, None for an observation
    cells: set[str] = set()
    for event, at in timeline:
        if event.kind in DATA_EVENTS or isinstance(event, CampaignStarted | CampaignResumed):
            health.last_data = at
        if event.kind in ROLES:
            health.last_success[ROLES[event.kind]] = at
        match event:
            case CampaignStarted():
                health.kind = str(event.spec.get("kind", ""))
                health.planner = event.planner
                health.budget = int(event.spec.get("budget", 0))
            case ObservationAdded():
                health.done += 1
                ended.append(None)
                cells.discard(event.observation.candidate_id)
            case CandidateFailed():
                health.failed += 1
                health.failures[failure_role(event.reason)] += 1
                ended.append(_failure_kind(event.reason))
                cells.discard(event.candidate_id)
                last = set(ended[-REPEATED_FAILURES:])
                if len(ended) >= REPEATED_FAILURES and len(last) == 1 and None not in last:
                    health.state = "halted"  # the engine's rule (Campaign._halt_if_stuck)
            case CampaignResumed():
                health.state = "running"
            case CandidateAbandoned():
                health.abandoned += 1
            case AlertRaised():
                health.alerts[(event.rule, event.severity)] += 1
                rule = AlertRule(event.rule, event.severity, "", event.runbook)
                health.raised.append(Alert(rule, event.subject, event.message))
            case CellAssembled():
                cells.add(event.candidate_id)
            case CellFinished():
                cells.discard(event.candidate_id)
            case CampaignFinished():
                health.state = "finished"
    health.cells_cycling = len(cells) if health.state == "running" else 0
    return health


def stale_alerts(
    campaigns: Sequence[CampaignHealth], now: datetime, stale_after: float = STALE_AFTER
) -> list[tuple[str, Alert]]:
    """(campaign id, `STALE_DATA` alert) for each running campaign without data for longer than
    `stale_after` seconds; a campaign with a cell on the cycler is exempt (its data stay in the
    cycler until a checkpoint)."""
    alerts = []
    for c in campaigns:
        if c.state != "running" or c.cells_cycling or c.last_data is None:
            continue
        age = (now - c.last_data).total_seconds()
        if age > stale_after:
            alerts.append(
                (
                    c.id,
                    Alert(
                        STALE_DATA,
                        c.id,
                        f"no new data for {age / 60:.0f} min (since "
                        f"{c.last_data.isoformat(timespec='seconds')}; threshold "
                        f"{stale_after / 60:g} min)",
                    ),
                )
            )
    return alerts


def store_exists(store: str | Path) -> bool:
    """False only for an SQLite file not made yet (a PostgreSQL store is always there)."""
    return is_postgres(store) or Path(store).exists()


def lab_health(store: str | Path) -> list[CampaignHealth]:
    """Every campaign of the store, oldest first; none if the store does not exist yet."""
    if not store_exists(store):
        return []
    with CampaignStore(store, designs=design_types()) as log:
        return [
            campaign_health(
                campaign_id,
                # both read in seq order from an append-only table: zip pairs them up
                list(
                    zip(
                        log.events(campaign_id),
                        (at for _, at in log.timeline(campaign_id)),
                        strict=False,
                    )
                ),
            )
            for campaign_id in log.campaign_ids()
        ]


class LabCollector(Collector):
    """The Prometheus collector of one electroloop home (read at every scrape)."""

    def __init__(
        self,
        home: Path,
        stale_after: float = STALE_AFTER,
        clock: Callable[[], datetime] = _now,
        services: bool = True,
        store: str | Path | None = None,
    ) -> None:
        """`services`: also probe the servers `electroloop up` started (a 2 s health check
        each); off in tests that have none. `store`: the campaigns database (`Settings.store`);
        default the home's SQLite file."""
        self.home = home
        self.store = store or home / "campaigns.sqlite"
        self.stale_after = stale_after
        self.clock = clock
        self.services = services

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        campaigns = lab_health(self.store)
        yield from self._campaigns(campaigns, now)
        yield from self._instruments(campaigns, now)
        if self.services:
            yield from self._services(now)

    def _campaigns(self, campaigns: Sequence[CampaignHealth], now: datetime) -> Iterator[Metric]:
        c = ["campaign"]
        info = GaugeMetricFamily(
            "electroloop_campaign_info", "A campaign's kind and planner (always 1).",
            labels=["campaign", "kind", "planner"],
        )  # fmt: skip
        budget = GaugeMetricFamily(
            "electroloop_campaign_budget_trials", "Trials the campaign may run.", labels=c
        )
        done = CounterMetricFamily(
            "electroloop_campaign_trials_done", "Trials with an observation.", labels=c
        )
        failed = CounterMetricFamily(
            "electroloop_campaign_trials_failed", "Trials that failed.", labels=c
        )
        state = GaugeMetricFamily(
            "electroloop_campaign_state",
            "1 for the campaign's state: running, finished or halted (repeated failures).",
            labels=["campaign", "state"],
        )
        last = GaugeMetricFamily(
            "electroloop_campaign_last_data_timestamp_seconds",
            "Unix time of the campaign's last instrument data (or start/resume, if later).",
            labels=c,
        )
        age = GaugeMetricFamily(
            "electroloop_campaign_data_age_seconds",
            "Seconds since the campaign's last instrument data (data freshness).",
            labels=c,
        )
        cycling = GaugeMetricFamily(
            "electroloop_campaign_cells_cycling", "Cells of the campaign on the cycler.", labels=c
        )
        alerts = CounterMetricFamily(
            "electroloop_alerts",
            "Alerts recorded in the campaign's log, by rule and severity (page or ticket).",
            labels=["campaign", "rule", "severity"],
        )
        firing = GaugeMetricFamily(
            "electroloop_alert_firing",
            "1 while an observer-side rule (stale-data) fires for the campaign.",
            labels=["campaign", "rule", "severity", "runbook"],
        )
        for h in campaigns:
            info.add_metric([h.id, h.kind, h.planner], 1)
            budget.add_metric([h.id], h.budget)
            done.add_metric([h.id], h.done)
            failed.add_metric([h.id], h.failed)
            for s in STATES:
                state.add_metric([h.id, s], 1 if h.state == s else 0)
            if h.last_data is not None:
                last.add_metric([h.id], h.last_data.timestamp())
                age.add_metric([h.id], (now - h.last_data).total_seconds())
            cycling.add_metric([h.id], h.cells_cycling)
            for (rule, severity), n in sorted(h.alerts.items()):
                alerts.add_metric([h.id, rule, severity], n)
        stale = {campaign_id for campaign_id, _ in stale_alerts(campaigns, now, self.stale_after)}
        rule = STALE_DATA
        for h in campaigns:
            firing.add_metric(
                [h.id, rule.name, rule.severity, rule.runbook], 1 if h.id in stale else 0
            )
        yield from (info, budget, done, failed, state, last, age, cycling, alerts, firing)

    def _instruments(self, campaigns: Sequence[CampaignHealth], now: datetime) -> Iterator[Metric]:
        failures = CounterMetricFamily(
            "electroloop_instrument_failures",
            "Failed trials by the stage their reason names (dosing, measurement, ...).",
            labels=["campaign", "role"],
        )
        last = GaugeMetricFamily(
            "electroloop_instrument_last_success_timestamp_seconds",
            "Unix time an event last showed an instrument role working (any campaign).",
            labels=["role"],
        )
        held = GaugeMetricFamily(
            "electroloop_instrument_lease_held",
            "1 for each unexpired instrument (or cycler channel) lease, by holder.",
            labels=["resource", "holder"],
        )
        remaining = GaugeMetricFamily(
            "electroloop_instrument_lease_remaining_seconds",
            "Seconds until the lease expires unless its holder's heartbeat renews it.",
            labels=["resource"],
        )
        waiting = GaugeMetricFamily(
            "electroloop_instrument_wait_seconds",
            "Seconds a flow has waited its turn at busy instruments (one per waiting step).",
            labels=["holder", "resources"],
        )
        newest: dict[str, datetime] = {}
        for h in campaigns:
            for role, n in sorted(h.failures.items()):
                failures.add_metric([h.id, role], n)
            for role, at in h.last_success.items():
                newest[role] = max(at, newest.get(role, at))
        for role, at in sorted(newest.items()):
            last.add_metric([role], at.timestamp())
        if store_exists(self.store):
            with LeaseBook(self.store) as book:
                for lease in book.all():
                    left = lease.remaining(now.timestamp())
                    if left > 0:
                        held.add_metric([lease.resource, lease.holder], 1)
                        remaining.add_metric([lease.resource], left)
                for ticket in LeaseQueue(book).waiting():
                    waited = max(0.0, now.timestamp() - ticket.enqueued_at)
                    waiting.add_metric([ticket.holder, ",".join(ticket.resources)], waited)
        yield from (failures, last, held, remaining, waiting)

    def _services(self, now: datetime) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "electroloop_service_up",
            "1 if the server `electroloop up` started (or the simulated cycler) is alive.",
            labels=["service"],
        )
        uptime = GaugeMetricFamily(
            "electroloop_service_uptime_seconds",
            "Seconds since the live server started (rig uptime).",
            labels=["service"],
        )
        services = running(self.home)
        for name in ("prefect", "mlflow"):
            record = getattr(services, name) if services is not None else None
            up.add_metric([name], 0 if record is None else 1)
            if record is not None:
                uptime.add_metric([name], (now - record.started_at).total_seconds())
        cycler = cycler_process(self.home)
        up.add_metric(["cycler-simulator"], 0 if cycler is None else 1)
        if cycler is not None and cycler.started_at:
            started = datetime.fromisoformat(cycler.started_at)
            if started.tzinfo is None:
                started = started.astimezone()
            uptime.add_metric(["cycler-simulator"], (now - started).total_seconds())
        yield from (up, uptime)


def exposition(collector: Collector) -> bytes:
    """The Prometheus text exposition of `collector` alone (no process metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry)
