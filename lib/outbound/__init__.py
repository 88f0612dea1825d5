"""Everything that leaves the service over HTTP: the shared client, Telegram, webhooks, alerts, pacing."""
