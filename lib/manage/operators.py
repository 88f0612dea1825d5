"""Operators and the audit: list, add, change role, disable or enable, set a password; read the audit.

Every function here is an admin's (lib/manage/acting.py refuses the others
when `db` acts for someone). A password is hashed here, in a thread (scrypt
takes about 0.1 s of CPU); when none is given one is generated and returned
once, never stored in clear.
"""

from __future__ import annotations

import asyncio
import re

from pydantic import BaseModel

from lib.db.port import Database
from lib.db.queries import operators as queries
from lib.db.queries.operators import AuditRecord, OperatorRecord
from lib.manage.actors import ROLES
from lib.manage.errors import translated
from lib.manage.jobs import page_bounds
from lib.manage.passwords import generate_password, hash_password, password_problem
from lib.manage.validate import invalid

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class OperatorView(OperatorRecord):
    """The console's Operator object: name, role, disabled, sign-in facts; never a hash."""


class OperatorList(BaseModel):
    operators: list[OperatorView]
    enabled: int


class AuditEntry(AuditRecord):
    """One audit row: when, who, what, and the fields before and after."""


class AuditList(BaseModel):
    entries: list[AuditEntry]
    has_more: bool


class NewPassword(BaseModel):
    """An operator after a password was set; `password` is the generated one, shown once (None when chosen)."""

    operator: OperatorView
    password: str | None


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise invalid(
            "name",
            "name must be 1 to 64 characters of lower-case letters, digits, . _ - (starting with one of the first two)",
        )
    return name


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise invalid("role", "role must be viewer, operator or admin")
    return role


async def _hashed(password: str | None) -> tuple[str, str | None]:
    """The hash to store, and the password to show once when it was generated."""
    generated = None
    if password is None:
        password = generated = generate_password()
    elif not isinstance(password, str) or (problem := password_problem(password)):
        raise invalid("password", problem if isinstance(password, str) and problem else "password must be text")
    return await asyncio.to_thread(hash_password, password), generated


def _view(record: OperatorRecord) -> OperatorView:
    return OperatorView.model_validate(record.model_dump())


async def list_operators(db: Database) -> OperatorList:
    with translated():
        found = await queries.ops_users_list(db)
    return OperatorList(operators=[_view(record) for record in found.operators], enabled=found.enabled)


async def add_operator(db: Database, name: str, role: str, password: str | None = None) -> NewPassword:
    """A new operator (409 when the name is taken); with no password, one is generated and returned once."""
    _check_name(name)
    _check_role(role)
    hashed, generated = await _hashed(password)
    with translated():
        record = await queries.ops_users_add(db, name=name, role=role, password_hash=hashed)
    return NewPassword(operator=_view(record), password=generated)


async def set_role(db: Database, name: str, role: str) -> OperatorView:
    """Takes effect on the operator's next request (its sessions read the role each time)."""
    _check_role(role)
    with translated():
        return _view(await queries.ops_users_set_role(db, name=name, role=role))


async def set_disabled(db: Database, name: str, disabled: bool) -> OperatorView:
    """Disabling ends the operator's sessions at once; the last enabled admin cannot be disabled (409)."""
    if not isinstance(disabled, bool):
        raise invalid("disabled", "disabled must be true or false")
    with translated():
        return _view(await queries.ops_users_set_disabled(db, name=name, disabled=disabled))


async def set_password(db: Database, name: str, password: str | None = None) -> NewPassword:
    """A new password (generated when None, returned once); every session of the operator ends."""
    hashed, generated = await _hashed(password)
    with translated():
        record = await queries.ops_users_set_password(db, name=name, password_hash=hashed)
    return NewPassword(operator=_view(record), password=generated)


async def list_audit(
    db: Database, *, actor: str | None = None, object_id: str | None = None, limit: int = 50, offset: int = 0
) -> AuditList:
    """The audit, newest first: one round trip."""
    limit, offset = page_bounds(limit, offset)
    with translated():
        page = await queries.ops_audit_list(db, actor=actor, object_id=object_id, limit=limit, offset=offset)
    return AuditList(
        entries=[AuditEntry.model_validate(entry.model_dump()) for entry in page.entries], has_more=page.has_more
    )
