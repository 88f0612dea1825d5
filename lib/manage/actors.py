"""Who acts: an operator with a role, the cron secret, or the CLI.

Roles, from DESIGN.md's "Operators are people, not a shared secret":
`viewer` reads; `operator` also runs, pauses, resumes, retries and cancels;
`admin` also creates, edits and deletes jobs and manages operators and
workers. lib/manage/acting.py enforces them for every caller (the console's
page and API, the CLI).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}


def allows(role: str, needed: Role) -> bool:
    """Whether `role` includes `needed` (an unknown role includes nothing)."""
    rank = _RANK.get(role)  # type: ignore[call-overload]
    return rank is not None and rank >= _RANK[needed]


@dataclass(frozen=True)
class Actor:
    """`who` is what the audit records (`ops:<name>`, `cron-secret`, `cli`); `requested_by` what run requests do."""

    who: str
    role: Role
    requested_by: str


def operator(name: str, role: Role) -> Actor:
    return Actor(who=f"ops:{name}", role=role, requested_by=f"ops:{name}")


# A script or a page session that proved the cron secret: admin; its run requests say `ops`.
CRON_SECRET = Actor(who="cron-secret", role="admin", requested_by="ops")
# Whoever runs `python -m lib` holds the database's own credentials: admin.
CLI = Actor(who="cli", role="admin", requested_by="cli")
