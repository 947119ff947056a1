"""Alerts: what a person must hear about now (a page) or soon (a ticket), each with its runbook.

A kind evaluates its rules where its data arrive (the cycling loop, on each cell's new records)
and raises an `Alert`; the campaign records it once per rule and subject (`AlertRaised` in the
event log) and says it in the run's log, naming the runbook to follow. SRE practice in the
terms of Beyer et al., *Site Reliability Engineering* (O'Reilly 2016), ch. 6: page only for what
needs a human at once, everything else is a ticket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Alert", "AlertRule"]

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
