"""/api/ops/operators and /api/ops/audit: the admin page (operators: list, add, role, disable, password; the audit).

Admins only: lib/manage refuses everyone else (403), as it does for the CLI.
A generated password is in the answer once and nowhere else.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from lib import manage
from lib.ops.api._common import (
    OFFSET_MAX,
    PAGE_MAX,
    answering,
    database,
    json_object,
    page_answer,
    parse_query,
    validate_body,
)
from lib.ops.routes import OpsRoute
from lib.ops.session import OpsError, OpsReader, OpsWriter

router = APIRouter(route_class=OpsRoute)

RoleName = Literal["viewer", "operator", "admin"]


class NewOperatorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=64)
    role: RoleName
    # Omitted: one is generated and answered once.
    password: str | None = Field(None, max_length=1024)


class OperatorChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: RoleName | None = None
    disabled: bool | None = None


class PasswordBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str | None = Field(None, max_length=1024)


class AuditParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actor: str | None = Field(None, max_length=200)
    object_id: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=PAGE_MAX)
    offset: int = Field(0, ge=0, le=OFFSET_MAX)


def _answer(result: manage.NewPassword, status: int = 200) -> JSONResponse:
    body: dict[str, object] = {"operator": result.operator.model_dump(mode="json")}
    if result.password is not None:
        body["password"] = result.password
    return JSONResponse(body, status_code=status)


@router.get("/operators")
async def list_operators(access: OpsReader) -> Response:
    async with answering(access):
        found = await manage.list_operators(database(access))
    return page_answer(found)


@router.post("/operators", status_code=201)
async def add_operator(request: Request, access: OpsWriter) -> JSONResponse:
    body = validate_body(NewOperatorBody, await json_object(request))
    async with answering(access):
        added = await manage.add_operator(database(access), body.name, body.role, body.password)
    return _answer(added, 201)


@router.patch("/operators/{name}")
async def change_operator(name: str, request: Request, access: OpsWriter) -> JSONResponse:
    changes = validate_body(OperatorChanges, await json_object(request))
    if changes.role is None and changes.disabled is None:
        raise OpsError(422, "send role and/or disabled", field="body")
    db = database(access)
    async with answering(access):
        changed = None
        if changes.role is not None:
            changed = await manage.set_role(db, name, changes.role)
        if changes.disabled is not None:
            changed = await manage.set_disabled(db, name, changes.disabled)
    assert changed is not None
    return JSONResponse({"operator": changed.model_dump(mode="json")})


@router.post("/operators/{name}/password")
async def set_password(name: str, request: Request, access: OpsWriter) -> JSONResponse:
    body = validate_body(PasswordBody, await json_object(request, empty_ok=True))
    async with answering(access):
        changed = await manage.set_password(database(access), name, body.password)
    return _answer(changed)


@router.get("/audit")
async def list_audit(request: Request, access: OpsReader) -> Response:
    params = parse_query(AuditParams, request)
    async with answering(access):
        page = await manage.list_audit(
            database(access), actor=params.actor, object_id=params.object_id, limit=params.limit, offset=params.offset
        )
    return page_answer(page)
