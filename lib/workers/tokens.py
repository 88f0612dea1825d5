"""A worker's token: `crw_` and 32 random bytes, shown once; the database keeps only its sha256.

32 random bytes cannot be guessed, so an unsalted hash is enough, and it lets
the database find the worker by an indexed lookup of the hash.
"""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "crw_"


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """The hex sha256 the SQL computes from the same token (repeatable/workers.sql, _worker_for_token)."""
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(value: str) -> bool:
    return value.startswith(PREFIX) and 36 <= len(value) <= 204
