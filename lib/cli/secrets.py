"""`python -m lib secrets`: fresh values for the two secrets a deployment needs.

Printed as `NAME=value` lines, ready for `.env` or `vercel env add NAME production`.
Each is 32 random bytes (43 URL-safe characters), far above CRON_SECRET's 16.
This is the one command that prints a secret: it makes them, it never reads one.
"""

from __future__ import annotations

import secrets

NAMES = ("CRON_SECRET", "WEBHOOK_SIGNING_SECRET")


def fresh_secrets() -> dict[str, str]:
    return {name: secrets.token_urlsafe(32) for name in NAMES}


def main() -> int:
    for name, value in fresh_secrets().items():
        print(f"{name}={value}")
    return 0
