"""Operators, sessions, the sign-in throttle and the audit (migrations/repeatable/operators.sql).

Errors the caller can act on come back as a `DatabaseError` with code PT404,
PT409 or PT422 and a message starting with the field (lib/manage/errors.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from lib.db.port import Database, Row, jsonable
from lib.db.queries._parse import first
from lib.db.queries.manage import Instant


class OperatorRecord(BaseModel):
    """The Operator object: never its password hash."""

    model_config = ConfigDict(frozen=True)

    name: str
    role: str
    disabled: bool
    has_password: bool
    password_changed_at: Instant
    last_signin_at: Instant
    created_at: Instant
    updated_at: Instant
    # Sessions open now (signed-in browsers).
    sessions: int


class OperatorsList(BaseModel):
    operators: list[OperatorRecord]
    # Operators not disabled.
    enabled: int


class AuditRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    at: Instant
    actor: str
    action: str
    object_type: str | None
    object_id: str | None
    object_name: str | None
    before: Any
    after: Any
    detail: Any


class AuditPage(BaseModel):
    entries: list[AuditRecord]
    has_more: bool


class SigninStart(BaseModel):
    """ops_signin_begin's answer: wait (retry_after > 0), or the attempt and the account named."""

    attempt_id: int | None
    retry_after: int
    user_id: UUID | None
    role: str | None
    password_hash: str | None
    disabled: bool | None
    operators: int | None


class SessionRecord(BaseModel):
    user_name: str | None
    role: str
    via: str
    secret_tag: str | None
    expires_at: datetime
    # Operators not disabled (a secret session lives only while there are none, or OPS_SECRET_SIGNIN).
    operators: int


async def ops_users_list(db: Database) -> OperatorsList:
    return OperatorsList.model_validate(first(await db.call("ops_users_list"), "ops_users_list"))


async def ops_users_add(db: Database, *, name: str, role: str, password_hash: str) -> OperatorRecord:
    rows = await db.call("ops_users_add", p_name=name, p_role=role, p_password_hash=password_hash)
    return OperatorRecord.model_validate(first(rows, "ops_users_add")["operator"])


async def ops_users_set_role(db: Database, *, name: str, role: str) -> OperatorRecord:
    rows = await db.call("ops_users_set_role", p_name=name, p_role=role)
    return OperatorRecord.model_validate(first(rows, "ops_users_set_role")["operator"])


async def ops_users_set_disabled(db: Database, *, name: str, disabled: bool) -> OperatorRecord:
    rows = await db.call("ops_users_set_disabled", p_name=name, p_disabled=disabled)
    return OperatorRecord.model_validate(first(rows, "ops_users_set_disabled")["operator"])


async def ops_users_set_password(db: Database, *, name: str, password_hash: str) -> OperatorRecord:
    rows = await db.call("ops_users_set_password", p_name=name, p_password_hash=password_hash)
    return OperatorRecord.model_validate(first(rows, "ops_users_set_password")["operator"])


async def ops_me_set_password(
    db: Database, *, token_hash: str, password_hash: str, attempt_id: int | None
) -> tuple[OperatorRecord, int]:
    """The signed-in operator's own new password, found by its session; the operator and its sessions ended."""
    rows = await db.call(
        "ops_me_set_password", p_token_hash=token_hash, p_password_hash=password_hash, p_attempt_id=attempt_id
    )
    row = first(rows, "ops_me_set_password")
    return OperatorRecord.model_validate(row["operator"]), int(row["sessions_ended"])


async def ops_audit_list(
    db: Database, *, actor: str | None, object_id: str | None, limit: int, offset: int
) -> AuditPage:
    rows = await db.call("ops_audit_list", p_actor=actor, p_object_id=object_id, p_limit=limit, p_offset=offset)
    return AuditPage.model_validate(first(rows, "ops_audit_list"))


async def ops_signin_state(db: Database) -> int:
    """How many operators are enabled."""
    return int(first(await db.call("ops_signin_state"), "ops_signin_state")["operators"])


async def ops_signin_begin(db: Database, *, address: str, account: str | None) -> SigninStart:
    rows = await db.call("ops_signin_begin", p_address=address, p_account=account)
    return SigninStart.model_validate(first(rows, "ops_signin_begin"))


async def ops_signin_succeeded(
    db: Database,
    *,
    attempt_id: int,
    token_hash: str,
    user_id: UUID | None,
    secret_tag: str | None,
    address: str,
    seconds: int,
) -> None:
    await db.call(
        "ops_signin_succeeded",
        p_attempt_id=attempt_id,
        p_token_hash=token_hash,
        p_user_id=user_id,
        p_secret_tag=secret_tag,
        p_address=address,
        p_seconds=seconds,
    )


async def ops_session_get(db: Database, *, token_hash: str) -> SessionRecord | None:
    rows = await db.call("ops_session_get", p_token_hash=token_hash)
    return SessionRecord.model_validate(rows[0]) if rows else None


async def ops_session_end(db: Database, *, token_hash: str) -> bool:
    rows = await db.call("ops_session_end", p_token_hash=token_hash)
    return bool(first(rows, "ops_session_end")["ended"])


async def ops_act(db: Database, *, actor: str, action: str, function: str, args: dict[str, Any]) -> list[Row]:
    """`function(**args)` run by `ops_act` for `actor`, audited as `action`; its rows as the function answers them.

    One key per call, the same on an adapter's retry: a call that had
    committed is not audited twice.
    """
    rows = await db.call(
        "ops_act",
        p_actor=actor,
        p_action=action,
        p_function=function,
        p_args=jsonable(args),
        p_call_key=uuid.uuid4(),
    )
    return [row["result"] for row in rows]
