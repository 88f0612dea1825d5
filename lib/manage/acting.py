"""Roles checked and writes audited, in one place for every caller: a port that acts for someone.

    db = acting(database_for(settings), actor)     # the console's API, the CLI
    await manage.pause_job(db, job_id)             # 403 for a viewer; audited for the others

Each SQL function a manage function calls is decided here:
- a read (`READ_ROLES`) needs its role and goes straight to the database;
- a write (`WRITE_ROLES`) needs its role and runs through `ops_act`, which
  records who did it and the fields before and after in `ops_audit`, in the
  same transaction as the write;
- any other `ops_...` function is treated as an admin's write: a function
  added later is refused to viewers and operators, and audited, until it is
  listed here (fail closed);
- everything else (the engine's own functions, which a Run now may reach
  through the executor) passes through: the role was checked at the write
  that led there.

A plain `Database` (tests, the engine) is not wrapped and checks nothing.
The mechanics are lib/db/acting.py (only lib/db calls the port).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from lib.db.acting import ActingDatabase
from lib.db.port import Database
from lib.manage.actors import Actor, Role, allows
from lib.manage.errors import ManageError

# SQL function -> (role needed, how a refusal words it).
READ_ROLES: dict[str, tuple[Role, str]] = {
    "ops_list_jobs": ("viewer", "reading jobs"),
    "ops_get_job": ("viewer", "reading jobs"),
    "ops_list_requests": ("viewer", "reading run requests"),
    "ops_get_request": ("viewer", "reading run requests"),
    "ops_list_runs": ("viewer", "reading runs"),
    "ops_request_history": ("viewer", "reading run requests"),
    "ops_list_workers": ("viewer", "reading workers"),
    "ops_users_list": ("admin", "managing operators"),
    "ops_audit_list": ("admin", "reading the audit"),
}

# SQL function -> (role needed, what the audit calls it).
WRITE_ROLES: dict[str, tuple[Role, str]] = {
    "ops_run_now": ("operator", "job.run"),
    "request_run": ("operator", "job.run"),
    "ops_set_job_enabled": ("operator", "job.pause"),
    "ops_retry_request": ("operator", "request.retry"),
    "ops_cancel_request": ("operator", "request.cancel"),
    "ops_bulk_requests": ("operator", "request.bulk"),
    "ops_create_job": ("admin", "job.create"),
    "ops_update_job": ("admin", "job.update"),
    "ops_update_job_at_version": ("admin", "job.update"),
    "ops_set_job_alerts": ("admin", "job.alerts"),
    "ops_delete_job": ("admin", "job.delete"),
    "ops_add_worker": ("admin", "worker.add"),
    "ops_revoke_worker": ("admin", "worker.revoke"),
    "ops_users_add": ("admin", "operator.add"),
    "ops_users_set_role": ("admin", "operator.role"),
    "ops_users_set_disabled": ("admin", "operator.disable"),
    "ops_users_set_password": ("admin", "operator.password"),
    # One's own password, found by the session (never a name): anyone signed in with a password.
    "ops_me_set_password": ("viewer", "operator.password"),
}

# How a refusal words an action.
_DOING = {
    "job.run": "running jobs",
    "job.pause": "pausing and resuming jobs",
    "job.resume": "pausing and resuming jobs",
    "request.retry": "retrying run requests",
    "request.cancel": "cancelling run requests",
    "request.bulk": "retrying and cancelling run requests",
    "job.create": "creating jobs",
    "job.update": "editing jobs",
    "job.delete": "deleting jobs",
    "job.alerts": "changing a job's alerts",
    "worker.add": "managing workers",
    "worker.revoke": "managing workers",
}


def _action(function: str, args: dict[str, Any]) -> tuple[Role, str]:
    role, action = WRITE_ROLES.get(function, ("admin", function.removeprefix("ops_")))
    # One function pauses and resumes, one disables and enables: the audit says which.
    if function == "ops_set_job_enabled" and args.get("p_enabled") is True:
        action = "job.resume"
    if function == "ops_users_set_disabled" and args.get("p_disabled") is False:
        action = "operator.enable"
    return role, action


def require(actor: Actor, needed: Role, doing: str) -> None:
    """403 unless `actor`'s role includes `needed` (also for a check that is not a SQL call)."""
    if not allows(actor.role, needed):
        raise ManageError(f"{doing} needs the {needed} role; {actor.who} is {actor.role}", status=403)


def decide(actor: Actor, function: str, args: dict[str, Any]) -> str | None:
    """None: call `function` directly; else the audit's name for a write. Raises 403 when the role does not allow."""
    if function == "ops_bulk_requests" and args.get("p_dry_run") is not False:
        # A dry run only counts what a bulk action would touch: the operator's role, no audit row.
        require(actor, "operator", _DOING["request.bulk"])
        return None
    if function in READ_ROLES:
        require(actor, *READ_ROLES[function])
        return None
    if function not in WRITE_ROLES and not function.startswith("ops_"):
        return None
    needed, action = _action(function, args)
    require(actor, needed, _DOING.get(action, "managing operators" if "operator" in action else action))
    return action


def acting(db: Database, actor: Actor) -> Database:
    """`db` acting for `actor`; an already acting one is re-wrapped for the new actor."""
    inner = db.inner if isinstance(db, ActingDatabase) else db
    return ActingDatabase(inner, who=actor.who, decide=partial(decide, actor), actor=actor)


def actor_of(db: Database) -> Actor | None:
    """Who `db` acts for; None for a plain port."""
    found = db.actor if isinstance(db, ActingDatabase) else None
    return found if isinstance(found, Actor) else None
