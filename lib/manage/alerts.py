"""Alerts for people who look: the recent events with each channel's delivery, and a test alert.

The console's Alerts panel (`/api/ops/alerts`, `/api/ops/alerts/test`) and
`python -m lib alerts list|test` use these.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from lib.alerts.abandon import horizon_seconds
from lib.alerts.channels import SETTING_OF, configured
from lib.alerts.deliver import deliver_due
from lib.db.port import Database
from lib.db.queries import alerts as queries
from lib.db.queries.manage import Instant
from lib.deadline import Deadline
from lib.manage.acting import actor_of, require
from lib.manage.errors import ManageError, translated
from lib.manage.validate import invalid
from lib.settings import Settings

MAX_PAGE = 200
# A test alert is sent within the call; this bounds how long it may take.
TEST_SECONDS = 15.0
NO_CHANNEL = (
    "no alert channel is configured: set ALERT_WEBHOOK_URL, ALERT_SLACK_WEBHOOK_URL, ALERT_DISCORD_WEBHOOK_URL "
    "or ALERT_TELEGRAM_CHAT_ID (with TELEGRAM_BOT_TOKEN)"
)


class DeliveryView(BaseModel):
    """One channel's delivery of an alert."""

    model_config = ConfigDict(frozen=True)

    channel: Literal["webhook", "slack", "discord", "telegram"]
    status: Literal["pending", "sent", "dead"]
    attempts: int
    max_attempts: int
    # The last failure: the service's first line (`HTTP 410: channel_is_archived`) or why there was no answer.
    last_error: str | None
    status_code: int | None
    sent_at: Instant
    # When a pending delivery is tried next.
    next_attempt_at: Instant


class AlertView(BaseModel):
    """One alert event and every channel's delivery of it."""

    model_config = ConfigDict(frozen=True)

    id: int
    alert_id: str
    event: str
    job_id: str | None
    job: str | None
    project_id: str | None
    repeat: int
    # The job's alerts are off: recorded, sent nowhere.
    muted: bool
    # False until a sender has given it one delivery per channel.
    routed: bool
    created_at: Instant
    payload: dict[str, Any]
    deliveries: list[DeliveryView]


class AlertPage(BaseModel):
    alerts: list[AlertView]
    has_more: bool
    # The channels configured now (names only, never a URL).
    channels: list[str]


class UnconfiguredChannel(BaseModel):
    """Deliveries waiting on a channel this process does not configure: another deployment may send them;
    if none claims them within `abandon_after_hours`, the `schedule` tick ends them dead."""

    model_config = ConfigDict(frozen=True)

    channel: str
    # The setting that is missing here (its name, never a value).
    setting: str
    pending: int
    oldest_at: Instant
    abandon_after_hours: int

    def line(self) -> str:
        since = f" (oldest {self.oldest_at:%Y-%m-%d %H:%M} UTC)" if self.oldest_at else ""
        return (
            f"{self.pending} pending {self.channel} deliver{'y' if self.pending == 1 else 'ies'}{since}, but "
            f"{self.setting} is not set here: a deployment that has it sends them; if none does within "
            f"{self.abandon_after_hours} h they end dead"
        )


def _alert(raw: Any) -> AlertView:
    return AlertView.model_validate(raw)


async def list_alerts(db: Database, settings: Settings, *, limit: int = 50, before_id: int | None = None) -> AlertPage:
    """The newest alerts (before `before_id`, for the next page), each with its deliveries: one round trip."""
    if limit < 1:
        raise invalid("limit", "limit must be a positive integer")
    with translated():
        alerts, has_more = await queries.list_alerts(db, limit=min(limit, MAX_PAGE), before_id=before_id)
    return AlertPage(alerts=[_alert(a) for a in alerts], has_more=has_more, channels=configured(settings))


async def pending_unconfigured(db: Database, settings: Settings) -> list[UnconfiguredChannel]:
    """Channels with pending deliveries that this process's settings do not configure: one round trip."""
    here = set(configured(settings))
    with translated():
        counts = await queries.alert_pending_by_channel(db)
    hours = horizon_seconds(settings) // 3600
    return [
        UnconfiguredChannel(
            channel=count.channel,
            setting=SETTING_OF.get(count.channel, count.channel),
            pending=count.pending,
            oldest_at=count.oldest_at if isinstance(count.oldest_at, datetime) else None,
            abandon_after_hours=hours,
        )
        for count in counts
        if count.channel not in here and count.pending > 0
    ]


async def send_test_alert(db: Database, settings: Settings, *, requested_by: str) -> AlertView:
    """Queue an `alert.test` for every configured channel and deliver it now; the alert with what came of it.

    409 when no channel is configured (the test is still listed, routed
    nowhere; the database is asked first, so an unreachable one is a 503
    like every other call). A channel that fails shows it in the
    delivery's state and error, and is retried like any alert.
    """
    actor = actor_of(db)
    if actor is not None:
        # queue_alert_event is an engine function the acting port passes through: the role is checked here.
        require(actor, "operator", "sending a test alert")
    with translated():
        queued = await queries.queue_alert_event(
            db, event="alert.test", payload={"requested_by": requested_by[:200], "requested_at": _now()}
        )
    # With no channel this routes the test to none, so it is not sent the day one is set.
    await deliver_due(db, settings, Deadline.after(TEST_SECONDS))
    if not configured(settings):
        # Recorded (the list shows a test that reached no channel), then refused with what to set.
        raise ManageError(NO_CHANNEL, status=409)
    with translated():
        alerts, _ = await queries.list_alerts(db, limit=1, before_id=queued.id + 1)
    return _alert(alerts[0])


def _now() -> str:
    return datetime.now(UTC).isoformat()
