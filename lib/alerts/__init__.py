"""Alerts that reach people: events, their channels, and the delivery queue.

An event (job.failed, job.overdue, job.recovered, agents.offline, alert.test)
is a row in cron_alert_events; each configured channel gets one delivery row,
claimed and settled like every queue here (migrations/repeatable/alert_deliveries.sql).

- `model`: one claimed delivery and the line a person reads about its event;
- `webhook`, `slack`, `discord`, `telegram`: one formatter per channel, each
  following its service's documented rules;
- `channels`: which channels the settings configure;
- `send`: the one function every alert HTTP call goes through;
- `deliver`: claim what is due, send it, settle it.
"""
