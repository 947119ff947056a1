"""Alert notifications through Prefect: each alert becomes a Prefect event, and a Prefect
automation turns those events into a webhook call (Slack, Teams, a pager's inbound hook...).

Two senders, one event per alert:

- `install()` makes every campaign of this process emit its alerts as it records them
  (`orchestrator.alerts.add_notifier`; the engine imports no Prefect);
- `AlertForwarder`, run by `electroloop metrics`, emits what the event log holds and the
  observer-side `stale-data` tickets, so alerts of a campaign whose process hangs or died
  still reach a person.

Both give an alert the same event id (`event_id`), and Prefect's trigger service skips an
event id it has seen, so an alert sent by both notifies once. Sending never raises into a
campaign: Prefect's `emit_event` queues the event for a background worker and logs failures.

`ensure_automations` creates, idempotently, the webhook block and one automation per severity
(`electroloop.alert.page`, `electroloop.alert.ticket`), so a lab can route pages and tickets
differently in the Prefect UI later. Prefect 3 API: `prefect.automations.Automation`,
`prefect.blocks.notifications.CustomWebhookNotificationBlock`.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from electroloop.errors import ConfigError
from electroloop.orchestrator.alerts import (
    STALE_AFTER,
    Alert,
    AlertRule,
    add_notifier,
    remove_notifier,
)
from electroloop.workflows.telemetry import lab_health, stale_alerts

__all__ = [
    "BLOCK_NAME",
    "WEBHOOK_ENV",
    "AlertForwarder",
    "emit_alert",
    "ensure_automations",
    "event_id",
    "install",
    "uninstall",
]

logger = logging.getLogger(__name__)

WEBHOOK_ENV = "ELECTROLOOP_ALERT_WEBHOOK_URL"
"""Where the lab's alerts go: the URL of an incoming webhook (read by `ensure_automations`)."""
BLOCK_NAME = "electroloop-alerts"
"""The Custom Webhook block the automations send through."""
EVENT_PREFIX = "electroloop.alert"
_NAMESPACE = uuid.UUID("6f1c1f1e-5b0e-4f43-9a3e-3c3f2d0e7a11")

SUBJECT = (
    "{{ event.payload.severity | upper }} {{ event.payload.rule }} ({{ event.payload.subject }})"
)
BODY = (
    "{{ event.payload.severity }} {{ event.payload.rule }} in campaign "
    "{{ event.payload.campaign }} ({{ event.payload.subject }}): {{ event.payload.message }}\n"
    "runbook: {{ event.payload.runbook }}"
)


def event_name(rule: AlertRule) -> str:
    """`electroloop.alert.page` or `electroloop.alert.ticket`."""
    return f"{EVENT_PREFIX}.{rule.severity}"


def event_id(campaign_id: str, alert: Alert, episode: str = "") -> uuid.UUID:
    """The same id for the same alert whoever sends it. `episode` tells apart two firings of
    one rule for one subject (a campaign stale again after it recovered)."""
    key = "\x1f".join((campaign_id, alert.rule.name, alert.subject, episode))
    return uuid.uuid5(_NAMESPACE, key)


def alert_event(campaign_id: str, alert: Alert, episode: str = "") -> dict[str, Any]:
    """`emit_event`'s arguments for `alert`."""
    rule = alert.rule
    return {
        "event": event_name(rule),
        "id": event_id(campaign_id, alert, episode),
        "resource": {
            "prefect.resource.id": f"electroloop.campaign.{campaign_id}.{alert.subject}",
            "prefect.resource.name": f"{campaign_id} {alert.subject}",
            "electroloop.campaign": campaign_id,
            "electroloop.subject": alert.subject,
        },
        "related": [
            {
                "prefect.resource.id": f"electroloop.alert-rule.{rule.name}",
                "prefect.resource.role": "alert-rule",
            }
        ],
        "payload": {
            "campaign": campaign_id,
            "rule": rule.name,
            "severity": rule.severity,
            "subject": alert.subject,
            "message": alert.message,
            "runbook": rule.runbook,
            "summary": rule.summary,
        },
    }


def emit_alert(campaign_id: str, alert: Alert, episode: str = "") -> bool:
    """Emit `alert` as a Prefect event if a Prefect API is configured (PREFECT_API_URL);
    True when it was handed to Prefect's events worker. Never raises."""
    if not os.environ.get("PREFECT_API_URL"):
        return False
    try:
        from prefect.events import emit_event

        return emit_event(**alert_event(campaign_id, alert, episode)) is not None
    except Exception:  # a notification failure is logged, never a campaign failure
        logger.exception("could not emit %s as a Prefect event", alert.line())
        return False


def _notify(campaign_id: str, alert: Alert) -> None:
    emit_alert(campaign_id, alert)


def install() -> None:
    """Emit every alert a campaign of this process records (idempotent)."""
    add_notifier(_notify)


def uninstall() -> None:
    """Stop emitting this process's alerts (`install` undone)."""
    remove_notifier(_notify)


class AlertForwarder:
    """The observer side: emits each alert in the home's event log, and each `stale-data`
    ticket, once. What was sent is remembered in `<home>/telemetry/notified` (one event id a
    line), so a restarted forwarder sends nothing twice; the first run marks the alerts the
    log already holds as sent (old alerts are not news), not a stale-data ticket firing now."""

    def __init__(
        self, home: Path, stale_after: float = STALE_AFTER, store: str | Path | None = None
    ) -> None:
        """`store`: the campaigns database (`Settings.store`); default the home's SQLite file."""
        self.home = home
        self.store = store or home / "campaigns.sqlite"
        self.stale_after = stale_after
        self.path = home / "telemetry" / "notified"
        if self.path.exists():
            self.sent = set(self.path.read_text(encoding="utf-8").split())
        else:
            self.sent = set()
            self._mark(str(i) for i, _ in self._pending(datetime.now(UTC), stale=False))

    def _pending(
        self, now: datetime, stale: bool = True
    ) -> list[tuple[uuid.UUID, tuple[str, Alert, str]]]:
        """(event id, (campaign id, alert, episode)) of each alert not sent yet: the log's,
        and with `stale` the stale-data tickets firing at `now`."""
        campaigns = lab_health(self.store)
        found: list[tuple[str, Alert, str]] = []
        for c in campaigns:
            for raised in c.raised:
                found.append((c.id, raised, ""))
        last_data = {c.id: c.last_data for c in campaigns}
        for campaign_id, alert in stale_alerts(campaigns, now, self.stale_after) if stale else []:
            since = last_data[campaign_id]
            found.append((campaign_id, alert, since.isoformat() if since else ""))
        return [(event_id(*f), f) for f in found if str(event_id(*f)) not in self.sent]

    def _mark(self, ids: Iterable[str]) -> None:
        new = [i for i in ids if i not in self.sent]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.writelines(f"{i}\n" for i in new)
        self.sent.update(new)

    def poll(self, now: datetime | None = None) -> list[Alert]:
        """Emit what is new since the last poll; returns the alerts sent."""
        sent = []
        for i, (campaign_id, alert, episode) in self._pending(now or datetime.now(UTC)):
            if emit_alert(campaign_id, alert, episode):
                self._mark([str(i)])
                sent.append(alert)
        return sent


def ensure_automations(webhook_url: str | None = None) -> dict[str, uuid.UUID]:
    """Create or update the webhook block and the page and ticket automations on the Prefect
    server PREFECT_API_URL names; returns automation name -> id. The webhook URL defaults to
    ELECTROLOOP_ALERT_WEBHOOK_URL."""
    url = webhook_url or os.environ.get(WEBHOOK_ENV, "")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(
            f"{WEBHOOK_ENV}: {url!r} is not a webhook URL; set it to the http(s) URL of the "
            "lab's incoming webhook (e.g. a Slack or Teams incoming webhook)"
        )
    if not os.environ.get("PREFECT_API_URL"):
        raise ConfigError(
            "notifications need a Prefect server: start one with `electroloop up` "
            "(or set PREFECT_API_URL)"
        )
    from prefect.automations import Automation, EventTrigger, SendNotification
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    block = CustomWebhookNotificationBlock(
        name=BLOCK_NAME,
        url=url,
        json_data={"text": "{{subject}}\n{{body}}", "subject": "{{subject}}", "body": "{{body}}"},
    )
    block_id = block.save(BLOCK_NAME, overwrite=True)
    ids = {}
    for severity in ("page", "ticket"):
        name = f"electroloop {severity}s"
        automation = Automation(
            name=name,
            description=f"Sends every electroloop {severity} to the {BLOCK_NAME} webhook.",
            trigger=EventTrigger(
                expect={f"{EVENT_PREFIX}.{severity}"},
                match={"prefect.resource.id": "electroloop.campaign.*"},
                posture="Reactive",
                threshold=1,
                within=0,
            ),
            actions=[SendNotification(block_document_id=block_id, subject=SUBJECT, body=BODY)],
        )
        try:
            existing = Automation.read(name=name)
        except ValueError:  # Prefect's "not found"
            automation = automation.create()
        else:
            automation.id = existing.id
            automation.update()
        assert automation.id is not None
        ids[name] = automation.id
    return ids
