"""`python -m lib ops-users ...`: add (a generated password printed once, or --password-stdin), list,
role, disable, enable and password; every change in the audit as `cli`; the CLI's own writes too."""

from __future__ import annotations

import io
import json

import asyncpg
import httpx
import pytest

from lib.manage.passwords import verify_password
from lib.settings import Settings
from tests.cli_run import cli
from tests.conftest import app_client
from tests.factories import add_job
from tests.ops_people import add_operator, sign_in, with_cookie
from tests.test_cli_jobs import cli_env  # noqa: F401 -- the CLI's environment fixture

pytestmark = pytest.mark.usefixtures("cli_env")


async def test_add_prints_a_generated_password_once_and_stores_only_its_hash(sql: asyncpg.Connection, capsys) -> None:
    code, out, err = await cli(capsys, "ops-users", "add", "alice", "--role", "admin")
    assert code == 0, err
    password = next(line.removeprefix("password: ") for line in out.splitlines() if line.startswith("password: "))
    assert len(password) >= 20
    stored = await sql.fetchval("select password_hash from public.ops_users where name = 'alice'")
    assert stored.startswith("scrypt$") and password not in stored
    assert verify_password(password, stored)
    code, out, err = await cli(capsys, "ops-users", "list")
    assert code == 0 and "alice" in out and "admin" in out and password not in out
    audit = await sql.fetchrow("select actor, action, object_name from public.ops_audit")
    assert dict(audit) == {"actor": "cli", "action": "operator.add", "object_name": "alice"}


async def test_password_stdin_is_used_and_never_printed(sql: asyncpg.Connection, capsys, monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a long chosen password\n"))
    code, out, err = await cli(capsys, "ops-users", "add", "olga", "--role", "operator", "--password-stdin", "--json")
    assert code == 0, err
    body = json.loads(out)
    assert body["operator"]["role"] == "operator" and "password" not in body
    assert "a long chosen password" not in out + err
    stored = await sql.fetchval("select password_hash from public.ops_users where name = 'olga'")
    assert verify_password("a long chosen password", stored)


async def test_role_disable_enable_and_password_and_their_sessions(
    sql: asyncpg.Connection, capsys, settings: Settings, db: object
) -> None:
    await add_operator(sql, "alice", "admin")
    await add_operator(sql, "olga", "operator")
    async with app_client(settings) as http:
        token = await sign_in(http, "olga")
        code, out, err = await cli(capsys, "ops-users", "role", "olga", "viewer", "--json")
        assert code == 0, err
        assert json.loads(out)["operator"]["role"] == "viewer"
        code, out, err = await cli(capsys, "ops-users", "disable", "olga")
        assert code == 0, err
        assert (await http.get("/api/ops/jobs", headers=with_cookie(token))).status_code == 401
        code, out, err = await cli(capsys, "ops-users", "enable", "olga")
        assert code == 0, err
        token = await sign_in(http, "olga")
        code, out, err = await cli(capsys, "ops-users", "password", "olga")
        assert code == 0, err
        assert "password: " in out
        assert (await http.get("/api/ops/jobs", headers=with_cookie(token))).status_code == 401
    actions = [row["action"] for row in await sql.fetch("select action from public.ops_audit order by id")]
    assert actions == ["operator.role", "operator.disable", "operator.enable", "operator.password"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "Bad Name", "--role", "viewer"], "invalid name"),
        (["add", "alice", "--role", "viewer"], "refused: an operator named 'alice' already exists"),
        (["role", "nobody", "admin"], "not found: no operator named 'nobody'"),
        (["disable", "alice"], "refused: this would leave no enabled admin"),
    ],
)
async def test_refusals_are_one_line_and_exit_1(sql: asyncpg.Connection, capsys, args, message) -> None:
    await add_operator(sql, "alice", "admin")
    code, _out, err = await cli(capsys, "ops-users", *args)
    assert code == 1
    assert err.startswith(message), err
    assert len(err.strip().splitlines()) == 1


async def test_a_short_password_from_stdin_is_refused_without_echoing_it(sql, capsys, monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("tiny\n"))
    code, _out, err = await cli(capsys, "ops-users", "add", "olga", "--role", "viewer", "--password-stdin")
    assert code == 1 and "at least 12 characters" in err and "tiny" not in err
    assert await sql.fetchval("select count(*) from public.ops_users") == 0


async def test_the_clis_job_writes_are_audited_as_cli(sql: asyncpg.Connection, capsys) -> None:
    await add_job(sql, "nightly-export")
    for args in (
        ["jobs", "pause", "nightly-export"],
        ["jobs", "resume", "nightly-export"],
        ["jobs", "run", "nightly-export"],
    ):
        code, _out, err = await cli(capsys, *args)
        assert code == 0, err
    code, _out, err = await cli(capsys, "request", "nightly-export")
    assert code == 0, err
    rows = await sql.fetch("select actor, action from public.ops_audit order by id")
    assert [(row["actor"], row["action"]) for row in rows] == [
        ("cli", "job.pause"),
        ("cli", "job.resume"),
        ("cli", "job.run"),
        ("cli", "job.run"),
    ]
    assert await sql.fetchval("select count(*) from public.cron_run_requests where requested_by = 'cli'") == 2


async def test_ops_users_is_in_the_clis_help(capsys) -> None:
    with pytest.raises(SystemExit):
        from lib.cli.main import main

        main(["--help"])
    assert "ops-users" in capsys.readouterr().out


async def test_an_operator_made_with_the_cli_signs_in_to_the_console(
    sql, capsys, settings: Settings, db: object
) -> None:
    code, out, err = await cli(capsys, "ops-users", "add", "alice", "--role", "admin", "--json")
    assert code == 0, err
    password = json.loads(out)["password"]
    async with app_client(settings) as http:
        answer = await http.post("/api/ops/login", json={"user": "alice", "password": password})
        assert answer.status_code == 200
        assert isinstance(answer, httpx.Response)
