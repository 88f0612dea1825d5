"""Adding, listing and revoking workers: the CLI's `workers` and the console's /api/ops/workers.

A refusal is a `ManageError` (404 no such worker, 409 a name taken in its
project, 422 a bad name or project), like every job-management action.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from lib.db.port import Database
from lib.db.queries import workers as queries
from lib.manage.errors import translated
from lib.workers.tokens import new_token, token_hash


@dataclass(frozen=True)
class NewWorker:
    """A worker just added, with its token: the only time the token is ever shown."""

    worker: dict[str, Any]
    token: str


async def add_worker(db: Database, *, name: str, project: str = "default") -> NewWorker:
    token = new_token()
    with translated():
        worker = await queries.ops_add_worker(db, project_id=project, name=name, token_hash=token_hash(token))
    return NewWorker(worker, token)


async def list_workers(db: Database, *, project: str | None = None) -> list[dict[str, Any]]:
    with translated():
        return await queries.ops_list_workers(db, project=project)


async def revoke_worker(db: Database, ref: str, *, project: str = "default") -> dict[str, Any]:
    """Revoke by id, or by name in `project`: its token is refused from its next call on."""
    try:
        worker_id: UUID | None = UUID(ref)
    except ValueError:
        worker_id = None
    with translated():
        if worker_id is not None:
            return await queries.ops_revoke_worker(db, worker_id=worker_id)
        return await queries.ops_revoke_worker(db, project=project, name=ref)
