"""Deliveries for a channel no deployment has: ended `dead` once nobody could have sent them for a safe horizon.

A delivery row exists only because some process had its channel configured
when it routed the event. If that setting is later removed everywhere (say
ALERT_SLACK_WEBHOOK_URL), no claim ever takes the row (claims take the
configured channels), and it would stay pending for ever, keeping
/api/health's alerts_pending above 0. One process lacking the channel proves
nothing, though: a shell's `python -m lib run schedule` or a second
deployment with fewer settings must not end what production would send. So
the `schedule` tick ends only rows that have been due, and untouched, for
longer than any deployment that does have the channel would leave them.
"""

from __future__ import annotations

import logging

from lib.alerts.channels import SETTING_OF, configured
from lib.alerts.retry import CAP_SECONDS
from lib.db import Database, DatabaseError
from lib.db.queries.alerts import abandon_alert_deliveries
from lib.settings import Settings

log = logging.getLogger("cronrelay.alerts")

# How long a deployment that has a channel can leave one of its pending
# deliveries alone, at the worst:
# - after a failed attempt, the retry wait: each step of lib/alerts/retry.py
#   is capped at CAP_SECONDS (8 h), whatever ALERT_MAX_ATTEMPTS (1-50) allows,
#   and a service's own retry_after is capped the same;
# - once due, until that deployment's next `schedule` tick: a minute with
#   vercel.json's cron or Supabase Cron, but up to a day on Vercel Hobby
#   without Supabase Cron (a cron runs at most daily there);
# - a sender that crashed mid-send holds the row for its lease
#   (LEASE_SECONDS) before it is due again.
# 8 h + 24 h + a lease is about 32 h with the default lease; 48 h leaves
# room for a tick or two that Vercel skips. The SQL measures from the later
# of the row's last touch and the moment it fell due, so the retry wait
# is behind it and the horizon is margin on top; a lease longer than
# usual lengthens the horizon by as much.
HORIZON_SECONDS = 48 * 3600
DAILY_TICK_SECONDS = 24 * 3600
# Rows ended per tick: one statement well inside Supabase's 8 s; more wait for the next tick.
LIMIT = 500


def horizon_seconds(settings: Settings) -> int:
    """The horizon for these settings: 48 h, or more when the lease is so long that 48 h would not cover it."""
    worst = CAP_SECONDS + DAILY_TICK_SECONDS + 2 * settings.lease_seconds
    return max(HORIZON_SECONDS, int(worst) + 3600)


async def abandon_stranded(db: Database, settings: Settings) -> dict[str, int]:
    """End the deliveries past the horizon on channels not configured here; how many, by channel. Never raises."""
    try:
        ended = await abandon_alert_deliveries(
            db,
            channels=configured(settings),
            settings=SETTING_OF,
            horizon_seconds=horizon_seconds(settings),
            limit=LIMIT,
        )
    except DatabaseError as error:
        log.error("alerts: ending deliveries for unconfigured channels failed: %s", settings.redact(str(error)))
        return {}
    for channel, count in ended.items():
        log.warning(
            "alerts: %d %s deliveries ended dead: channel %s is configured nowhere this queue ran for %d h",
            count,
            channel,
            channel,
            horizon_seconds(settings) // 3600,
        )
    return ended
