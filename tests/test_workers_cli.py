"""`python -m lib workers add|list|revoke` and the reference worker's refusals before it starts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import asyncpg
import httpx
import pytest

from lib.cli.main import main
from lib.workers.agent import Worker
from lib.workers.config import WorkerJob
from lib.workers.tokens import token_hash
from tests.cli_run import cli
from tests.test_cli_jobs import cli_env  # noqa: F401  (the fixture)


@pytest.mark.usefixtures("cli_env")
async def test_add_prints_the_token_once_list_shows_it_and_revoke_refuses_it(
    capsys: pytest.CaptureFixture[str], sql: asyncpg.Connection
) -> None:
    code, out, err = await cli(capsys, "workers", "add", "mac-mini", "--project", "home")
    token = out.strip()
    assert code == 0 and token.startswith("crw_") and "shown this once" in err
    stored = await sql.fetchval("select token_hash from public.cron_workers")
    assert stored == token_hash(token) and token not in stored

    code, out, _ = await cli(capsys, "workers", "add", "mac-mini", "--project", "home")
    assert code == 1

    code, out, _ = await cli(capsys, "workers", "list")
    assert code == 0 and out.split("\n")[1].split() == ["home/mac-mini", "offline", "never", "0"]
    assert token not in out

    code, out, _ = await cli(capsys, "workers", "revoke", "mac-mini", "--project", "home")
    assert code == 0 and "revoked" in out
    code, out, _ = await cli(capsys, "workers", "list", "--json")
    [listed] = json.loads(out)
    assert listed["disabled_at"] is not None and "token_hash" not in listed

    code, _, err = await cli(capsys, "workers", "revoke", "nobody")
    assert code == 1 and "no such worker" in err


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        ('[[jobs]]\nid = "a"\ncommand = "echo hi"\n', "command must be a non-empty list of strings"),
        ('[[jobs]]\nid = "a"\ncommand = ["true"]\ntimeout = -1\n', "timeout must be a number of seconds"),
        ('[[jobs]]\nid = "a"\ncommand = ["true"]\nshell = true\n', "unknown field 'shell'"),
        ('[[jobs]]\nid = "a"\ncommand = ["true"]\n[[jobs]]\nid = "a"\ncommand = ["true"]\n', "appears more than once"),
        ("[[jobs]\n", "not valid TOML"),
    ],
)
def test_a_bad_worker_toml_is_one_line_naming_the_problem(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, toml: str, problem: str
) -> None:
    jobs = tmp_path / "worker.toml"
    jobs.write_text(toml)
    code = main(["worker", "--url", "http://127.0.0.1:9", "--token", "crw_" + "x" * 43, "--jobs", str(jobs)])
    err = capsys.readouterr().err
    assert code == 2 and problem in err and len(err.strip().splitlines()) == 1


def test_the_worker_needs_its_url_and_token(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRONRELAY_URL", raising=False)
    monkeypatch.delenv("CRONRELAY_WORKER_TOKEN", raising=False)
    assert main(["worker", "--token", "crw_x"]) == 2
    assert "--url" in capsys.readouterr().err
    assert main(["worker", "--url", "http://127.0.0.1:9"]) == 2
    assert "--token" in capsys.readouterr().err


async def test_the_result_keeps_the_last_2_kb_of_output_without_nul_characters() -> None:
    code = "import sys; sys.stdout.write('x' * 5000 + 'tail\\x00end'); sys.exit(4)"
    job = WorkerJob(id="a", name="a", command=(sys.executable, "-c", code), timeout=30)
    async with httpx.AsyncClient() as client:
        worker = Worker(client, {"a": job})
        outcome, result = await worker.run_command(job, {"id": "r", "claim_token": "t", "attempt": 1})
    assert (outcome, result["exit_code"], result["error"]) == ("error", 4, "exited with code 4")
    assert len(result["output"].encode()) <= 2048 + 2 and result["output"].endswith("tail\ufffdend")
