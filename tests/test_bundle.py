"""The deployed bundle works without the dev-only code.

Vercel uploads the repository minus what .vercelignore lists. This copies
exactly that into an empty directory, imports api/index.py there in a fresh
interpreter (the venv's, so requirements.txt's packages), and serves one
request to /api/health through it. The local stack and the CLI must not be
imported on the way, or a deploy would fail on the missing files.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import importlib.util, json, sys
from pathlib import Path

spec = importlib.util.spec_from_file_location("index", Path("api/index.py").resolve())
index = importlib.util.module_from_spec(spec)
spec.loader.exec_module(index)

from fastapi.testclient import TestClient

with TestClient(index.app) as client:
    response = client.get("/api/health")
import lib
print(json.dumps({
    "status": response.status_code,
    "body": response.json(),
    "lib": str(Path(lib.__file__).resolve().parent),
    "dev_only": sorted(m for m in sys.modules if m.split(".")[:2] in (["lib", "local"], ["lib", "cli"])),
    "handler": type(index.handler).__name__,
}))
"""


def _ignored(path: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        pattern = pattern.strip("/")
        if path == pattern or path.startswith(pattern + "/") or fnmatch.fnmatch(path, pattern):
            return True
    return False


def deployed_files() -> list[str]:
    """What a deploy uploads: the project's files (git's view, ignored ones excluded) minus .vercelignore."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    lines = (ROOT / ".vercelignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return [path for path in listed if (ROOT / path).is_file() and not _ignored(path, patterns)]


def test_the_vercelignore_leaves_out_the_local_stack_and_the_cli() -> None:
    files = deployed_files()
    assert "api/index.py" in files and "lib/app.py" in files and "requirements.txt" in files
    assert not [path for path in files if path.startswith(("lib/local/", "lib/cli/", "tests/", "bench/"))]


def test_the_deployed_bundle_serves_health_without_dev_only_code(tmp_path: Path, pg_dsn: str) -> None:
    bundle = tmp_path / "bundle"
    for path in deployed_files():
        target = bundle / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, target)
    assert not (bundle / "lib" / "local").exists() and not (bundle / "lib" / "cli").exists()

    # Nothing from this checkout or its settings (no PYTHONPATH, no .env beside it): only what a deploy sets.
    env = {name: value for name, value in os.environ.items() if name in ("PATH", "HOME", "LANG")}
    env.update(CRON_SECRET="bundle-secret-0123456789", DATABASE_URL=pg_dsn)
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=bundle, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])

    assert report["lib"] == str((bundle / "lib").resolve())  # the copy, not this checkout
    assert report["dev_only"] == []
    assert report["handler"] == "Mangum"
    assert report["status"] == 200, report
    assert report["body"] == {
        "status": "ok",
        "database": "ok",
        "adapter": "postgres",
        "overdue_jobs": 0,
        "alerts_pending": 0,
        "alerts_dead": 0,
    }
