"""Wall-clock arithmetic: schedules (cron, interval, once) and quiet hours, with one daylight-saving rule."""
