"""An operator changes its own password (the console's "Change password"; any role).

The account is the one the session belongs to: the SQL finds it from the
session's id hash, so nothing the caller sends can name another account.
The current password is checked by the caller under the sign-in throttle
(lib/ops/own_password.py); this checks the new one with the rules
`ops-users password` applies, hashes it, and writes it through the acting
port (audited as `operator.password`, the hash never copied).
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from lib.db.port import Database
from lib.db.queries import operators as queries
from lib.manage.errors import ManageError, translated
from lib.manage.operators import OperatorView
from lib.manage.passwords import hash_password, password_problem
from lib.manage.validate import invalid


class OwnPasswordChanged(BaseModel):
    """The operator after its password changed, and how many of its other sessions ended."""

    operator: OperatorView
    sessions_ended: int


def check_new_password(current: str, new: str) -> None:
    """422 naming `new` when the new password breaks a rule (the same lines as `ops-users password`)."""
    problem = password_problem(new)
    if problem:
        raise invalid("new", problem)
    if new == current:
        raise ManageError("the new password must differ from the current one", status=422, field="new")


async def change_own_password(db: Database, *, token_hash: str, attempt_id: int | None, new: str) -> OwnPasswordChanged:
    """Set the session's own operator's password; its other sessions end, this one stays."""
    problem = password_problem(new)
    if problem:
        raise invalid("new", problem)
    hashed = await asyncio.to_thread(hash_password, new)
    with translated():
        record, ended = await queries.ops_me_set_password(
            db, token_hash=token_hash, password_hash=hashed, attempt_id=attempt_id
        )
    return OwnPasswordChanged(operator=OperatorView.model_validate(record.model_dump()), sessions_ended=ended)
