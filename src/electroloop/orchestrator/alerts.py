"""Alerts: what a person must hear about now (a page) or soon (a ticket), each with its runbook.

A kind evaluates its rules where its data arrive (the cycling loop, on each cell's new records)
and raises an `Alert`; the campaign records it once per rule and subject (`AlertRaised` in the
event log) and says it in the run's log, naming the runbook to follow. SRE practice in the
terms of Beyer et al., *Site Reliability Engineering* (O'Reilly 2016), ch. 6: page only for what
needs a human at once, everything else is a ticket.

Recording is the campaign's job; telling people is not. `notify` hands each newly recorded alert
to the notifiers a composition root installed (`add_notifier`: the Prefect one lives in
`workflows.notifications`, since the engine imports no Prefect), and a notifier that fails is
logged, never raised: a dead webhook must not stop a campaign.

One rule is the observer's, not a kind's: `STALE_DATA` (a stuck orchestrator cannot say it is
stuck), evaluated from the event log by `workflows.telemetry`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "STALE_AFTER",
    "STALE_DATA",
    "Alert",
    "AlertRule",
    "Notifier",
    "add_notifier",
    "notify",
    "remove_notifier",
]

logger = logging.getLogger(__name__)

Severity = Literal["page", "ticket"]


@dataclass(frozen=True)
class AlertRule:
    """One alerting rule: its name, how urgent, what it means and the runbook to follow."""

    name: str
    severity: Severity
    summary: str
    runbook: str
    """Path of the runbook in the repository, e.g. docs/runbooks/thermal-excursion.md."""


@dataclass(frozen=True)
class Alert:
    """A rule that fired for one subject (a cell, an instrument), with what was seen."""

    rule: AlertRule
    subject: str
    message: str

    def line(self) -> str:
        """How the run's log says it."""
        return (
            f"ALERT {self.rule.severity} {self.rule.name} ({self.subject}): {self.message}; "
            f"runbook: {self.rule.runbook}"
        )


STALE_AFTER = 3600.0
"""Seconds a running campaign may go without new data (a dosing, measurement or observation)
before `STALE_DATA` files a ticket. An electrolyte trial doses and measures in minutes, so an
hour without data is several trials missed: the orchestrator is stuck, dead or waiting for a
person (a review, a manual step). A ticket, not a page: no sample or cell is at risk while the
loop is idle, and Beyer et al. (*Site Reliability Engineering*, ch. 6) keep pages for what
needs a human now. Campaigns with cells on a cycler are exempt while a cell cycles: their data
stay in the cycler until a checkpoint, hours to days apart. Configurable
(`electroloop metrics --stale-after`)."""

STALE_DATA = AlertRule(
    "stale-data",
    "ticket",
    "a running campaign has recorded no new data for longer than its threshold",
    "docs/runbooks/stale-data.md",
)

Notifier = Callable[[str, Alert], None]
"""Tells people about `alert` of campaign `campaign_id` (a Prefect event, a webhook...)."""

_notifiers: list[Notifier] = []
_notifiers_lock = threading.Lock()


def add_notifier(notifier: Notifier) -> None:
    """Install `notifier` for every alert a campaign of this process records (once)."""
    with _notifiers_lock:
        if notifier not in _notifiers:
            _notifiers.append(notifier)


def remove_notifier(notifier: Notifier) -> None:
    with _notifiers_lock:
        if notifier in _notifiers:
            _notifiers.remove(notifier)


def notify(campaign_id: str, alert: Alert) -> None:
    """Hand `alert` to every installed notifier; a failing one is logged and skipped."""
    with _notifiers_lock:
        notifiers = list(_notifiers)
    for notifier in notifiers:
        try:
            notifier(campaign_id, alert)
        except Exception:  # a notification must never stop a campaign
            logger.exception("could not send %s for campaign %s", alert.line(), campaign_id)
