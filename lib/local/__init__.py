"""The local stack (embedded Postgres, app, cron runner, Telegram stand-in). Never deployed: see .vercelignore."""
