"""`python -m lib ops-users ...`: the console's operator accounts from a shell.

ops-users add <name> --role viewer|operator|admin [--password-stdin] [--json]
ops-users list [--json]
ops-users role <name> <viewer|operator|admin> [--json]
ops-users disable <name> [--json]       (ends its sessions at once)
ops-users enable <name> [--json]
ops-users password <name> [--password-stdin] [--json]   (ends its sessions)

Without --password-stdin a password is generated and printed once; it is
stored only as a scrypt hash. Every change is in the audit as `cli`. A
refusal is one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from lib import manage
from lib.cli.common import FAILURES, failed, with_database
from lib.cli.tables import Column, render
from lib.db import Database

OPERATOR_COLUMNS = (
    Column("name", lambda r: r["name"]),
    Column("role", lambda r: r["role"]),
    Column("state", lambda r: "disabled" if r["disabled"] else "enabled"),
    Column("sessions", lambda r: r["sessions"]),
    Column("last sign-in", lambda r: r["last_signin_at"]),
    Column("created", lambda r: r["created_at"]),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lib ops-users", description="the console's operator accounts")
    actions = parser.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="make an operator; prints a generated password once")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=manage.ROLES)
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin instead")
    listing = actions.add_parser("list", help="every operator, its role and state")
    role = actions.add_parser("role", help="change an operator's role")
    role.add_argument("name")
    role.add_argument("role", choices=manage.ROLES)
    for action, text in (
        ("disable", "disable an operator: its sessions end at once"),
        ("enable", "enable a disabled operator again"),
    ):
        actions.add_parser(action, help=text).add_argument("name")
    password = actions.add_parser("password", help="set a new password (generated unless --password-stdin)")
    password.add_argument("name")
    password.add_argument("--password-stdin", action="store_true", help="read the password from stdin instead")
    for sub in (add, listing, role, password, *(actions.choices[name] for name in ("disable", "enable"))):
        sub.add_argument("--json", action="store_true", help="print JSON (the console API's objects)")
    return parser


def _stdin_password(args: argparse.Namespace) -> str | None:
    if not getattr(args, "password_stdin", False):
        return None
    # One line, its line ending dropped: `printf '%s' "$PW" | ...` and `echo "$PW" | ...` both work.
    return sys.stdin.readline().rstrip("\r\n")


def _operator_answer(result: manage.OperatorView | manage.NewPassword, as_json: bool) -> str:
    if isinstance(result, manage.NewPassword):
        operator, password = result.operator, result.password
    else:
        operator, password = result, None
    record = operator.model_dump(mode="json")
    if as_json:
        body: dict[str, Any] = {"operator": record}
        if password is not None:
            body["password"] = password
        return json.dumps(body, indent=2)
    text = render([record], OPERATOR_COLUMNS)
    if password is not None:
        text += f"\npassword: {password}\n(shown once: it is stored only as a hash)"
    return text


async def _add(db: Database, args: argparse.Namespace) -> str:
    added = await manage.add_operator(db, args.name, args.role, _stdin_password(args))
    return _operator_answer(added, args.json)


async def _list(db: Database, args: argparse.Namespace) -> str:
    found = await manage.list_operators(db)
    if args.json:
        return json.dumps(found.model_dump(mode="json"), indent=2)
    if not found.operators:
        return "no operators yet: python -m lib ops-users add <name> --role admin"
    return render([operator.model_dump(mode="json") for operator in found.operators], OPERATOR_COLUMNS)


async def _role(db: Database, args: argparse.Namespace) -> str:
    return _operator_answer(await manage.set_role(db, args.name, args.role), args.json)


async def _disable(db: Database, args: argparse.Namespace) -> str:
    return _operator_answer(await manage.set_disabled(db, args.name, True), args.json)


async def _enable(db: Database, args: argparse.Namespace) -> str:
    return _operator_answer(await manage.set_disabled(db, args.name, False), args.json)


async def _password(db: Database, args: argparse.Namespace) -> str:
    return _operator_answer(await manage.set_password(db, args.name, _stdin_password(args)), args.json)


ACTIONS: dict[str, Callable[[Database, argparse.Namespace], Awaitable[str]]] = {
    "add": _add,
    "list": _list,
    "role": _role,
    "disable": _disable,
    "enable": _enable,
    "password": _password,
}


def main(argv: list[str]) -> int:
    """`ops-users ...` (argv after the command); the exit status."""
    args = _parser().parse_args(argv)
    action = ACTIONS[args.action]
    try:
        print(asyncio.run(with_database(lambda db: action(db, args))))
    except FAILURES as error:
        return failed(error)
    return 0
