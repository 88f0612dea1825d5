"""Cold start: a fresh process imports api/index.py and serves its first request.

Measured as a deploy runs it: the deployed files only (the repository minus
.vercelignore, copied to an empty directory) in a venv that has
requirements.txt and nothing else (built once, under /tmp, and rebuilt when
requirements.txt changes). The clock starts on the child's first line, so
the interpreter's own start-up (the same for both) is not counted, and stops
when the first answer is complete. The request is served through the ASGI
app directly, as Vercel's Python runtime does: GET /api/health, which loads
the settings, connects to Postgres and makes one database call.

The baseline, in the same venv: a minimal FastAPI app doing the same (one
route that connects with asyncpg and runs one query); beside it, for
information, the same app with psycopg, which the postgres adapter uses. Best of REPEATS runs
each, alternating. Beside it, for information, the same cold start with a
job route (/api/cron/check-stale) as the first request, which pays for the
jobs' imports too.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import venv
from pathlib import Path
from typing import Any

from bench.harness import ROOT, Figure, at_most, embedded_database, say
from tests.test_bundle import deployed_files

VENV = Path(tempfile.gettempdir()) / "cronrelay-bench-venv"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".requirements.sha256"
REPEATS = 15
TARGET = 1.15
SECRET = "bench-cold-start-secret-0123456789"

# Runs first in the child: the clock, and a way to serve one request to an ASGI app.
PRELUDE = """
import time
_t0 = time.perf_counter()
import asyncio, json, sys

async def _serve(app, path, headers=()):
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "https", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"bench.vercel.app"), *((k.encode(), v.encode()) for k, v in headers)],
             "client": ("127.0.0.1", 40000), "server": ("bench.vercel.app", 443)}
    sent = []
    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}
    async def send(message):
        sent.append(message)
    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body.decode()
"""

OURS = (
    PRELUDE
    + """
import importlib.util
from pathlib import Path
spec = importlib.util.spec_from_file_location("index", Path("api/index.py").resolve())
index = importlib.util.module_from_spec(spec)
spec.loader.exec_module(index)
_t1 = time.perf_counter()
path = sys.argv[1]
headers = [("authorization", "Bearer " + sys.argv[2])] if path.startswith("/api/cron/") else []
status, body = asyncio.run(_serve(index.app, path, headers))
_t2 = time.perf_counter()
modules = len(sys.modules)
# What a Supabase deployment's first request adds: the supabase adapter and supabase-py.
import lib.db.supabase
_t3 = time.perf_counter()
print(json.dumps({"import_ms": (_t1 - _t0) * 1000, "request_ms": (_t2 - _t1) * 1000, "status": status,
                  "body": body, "modules": modules, "supabase_ms": (_t3 - _t2) * 1000}))
"""
)

# The baseline app, written to a file as an app is (FastAPI reads an endpoint's
# source lines on its first request, which code given with -c would skip).
MINIMAL_APP = """
import os

import asyncpg
from fastapi import FastAPI
from fastapi.responses import JSONResponse

app = FastAPI()


@app.get("/api/health")
async def health():
    connection = await asyncpg.connect(os.environ["DATABASE_URL"])
    try:
        await connection.fetchval("select 1")
    finally:
        await connection.close()
    return JSONResponse({"status": "ok", "database": "ok"})
"""

# The same with psycopg, the postgres adapter's driver, for information: the
# figure's baseline stays the asyncpg app, so what psycopg's import costs a
# cold start shows in it.
MINIMAL_PSYCOPG_APP = """
import os

import psycopg
from fastapi import FastAPI
from fastapi.responses import JSONResponse

app = FastAPI()


@app.get("/api/health")
async def health():
    connection = await psycopg.AsyncConnection.connect(os.environ["DATABASE_URL"], autocommit=True)
    try:
        await connection.execute("select 1")
    finally:
        await connection.close()
    return JSONResponse({"status": "ok", "database": "ok"})
"""

MINIMAL = (
    PRELUDE
    + """
import importlib
sys.path.insert(0, "minimal")
app = importlib.import_module(sys.argv[1]).app
_t1 = time.perf_counter()
status, body = asyncio.run(_serve(app, "/api/health"))
_t2 = time.perf_counter()
print(json.dumps({"import_ms": (_t1 - _t0) * 1000, "request_ms": (_t2 - _t1) * 1000, "status": status,
                  "body": body, "modules": len(sys.modules)}))
"""
)


def ensure_venv() -> Path:
    """A venv with requirements.txt only, built once (pip's cache makes a rebuild quick)."""
    wanted = hashlib.sha256((ROOT / "requirements.txt").read_bytes()).hexdigest()
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text() == wanted:
        return PYTHON
    say(f"building {VENV} with requirements.txt only")
    shutil.rmtree(VENV, ignore_errors=True)
    venv.create(VENV, with_pip=True)
    subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", "requirements.txt"],
        cwd=ROOT,
        check=True,
    )
    STAMP.write_text(wanted)
    return PYTHON


def bundle(into: Path) -> Path:
    for path in deployed_files():
        target = into / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, target)
    return into


def _child(python: Path, cwd: Path, script: str, env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [str(python), "-c", script, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"cold-start child failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if result["status"] != 200:
        raise RuntimeError(f"cold-start child answered {result['status']}: {result['body'][:300]}")
    return result


def _total(result: dict[str, Any]) -> float:
    return float(result["import_ms"] + result["request_ms"])


def main() -> list[Figure]:
    python = ensure_venv()
    with embedded_database() as dsn, tempfile.TemporaryDirectory(prefix="cronrelay-bundle-") as folder:
        cwd = bundle(Path(folder))
        (cwd / "minimal").mkdir()
        (cwd / "minimal" / "minimal_app.py").write_text(MINIMAL_APP)
        (cwd / "minimal" / "minimal_psycopg.py").write_text(MINIMAL_PSYCOPG_APP)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/tmp"),
            "DATABASE_URL": dsn,
            "CRON_SECRET": SECRET,
        }
        # Once each, untimed: bytecode caches written, as a deployed image has them.
        _child(python, cwd, OURS, env, "/api/health", SECRET)
        _child(python, cwd, OURS, env, "/api/cron/check-stale", SECRET)
        _child(python, cwd, MINIMAL, env, "minimal_app")
        _child(python, cwd, MINIMAL, env, "minimal_psycopg")
        ours, minimal, job, psycopg_minimal = [], [], [], []
        for _ in range(REPEATS):
            ours.append(_child(python, cwd, OURS, env, "/api/health", SECRET))
            minimal.append(_child(python, cwd, MINIMAL, env, "minimal_app"))
            job.append(_child(python, cwd, OURS, env, "/api/cron/check-stale", SECRET))
            psycopg_minimal.append(_child(python, cwd, MINIMAL, env, "minimal_psycopg"))
    best_ours = min(ours, key=_total)
    best_minimal = min(minimal, key=_total)
    best_job = min(job, key=_total)
    best_psycopg = min(psycopg_minimal, key=_total)
    ratio = _total(best_ours) / _total(best_minimal)
    job_ratio = _total(best_job) / _total(best_minimal)
    for label, result in (
        ("api/index.py, GET /api/health", best_ours),
        ("minimal FastAPI app (asyncpg)", best_minimal),
        ("minimal FastAPI app (psycopg)", best_psycopg),
    ):
        say(
            f"  {label:32} import {result['import_ms']:6.1f} ms + first request {result['request_ms']:5.1f} ms "
            f"= {_total(result):6.1f} ms ({result['modules']} modules)"
        )
    supabase = min(result["supabase_ms"] for result in ours)
    say(f"  the supabase adapter's import (supabase-py with it), which the postgres adapter skips: {supabase:.0f} ms")
    say(
        f"  {'api/index.py, GET check-stale':32} import {best_job['import_ms']:6.1f} ms + first request "
        f"{best_job['request_ms']:5.1f} ms = {_total(best_job):6.1f} ms ({best_job['modules']} modules) "
        f"= {job_ratio:.2f}x the minimal app"
    )
    return [
        Figure(
            name="cold start: import api/index.py + first request (GET /api/health), requirements.txt-only venv",
            measured=f"{_total(best_ours):.0f} ms ({best_ours['import_ms']:.0f} import + "
            f"{best_ours['request_ms']:.0f} request)",
            baseline=f"minimal FastAPI app + asyncpg, same request: {_total(best_minimal):.0f} ms",
            ratio=ratio,
            target=f"≤ {TARGET}x",
            met=at_most(ratio, TARGET),
            note=(
                f"best of {REPEATS}, interpreter start-up excluded. With a job route as the first request "
                f"(GET /api/cron/check-stale: begin_run, the UPDATE, end_run) it is {_total(best_job):.0f} ms "
                f"= {job_ratio:.2f}x the same baseline. With the supabase adapter (SUPABASE_URL set), the first "
                f"request also imports lib/db/supabase.py and supabase-py (auth, realtime, storage and functions "
                f"clients with it): {supabase:.0f} ms more, which a minimal app using supabase-py would pay too. "
                f"The same minimal app with psycopg, the postgres adapter's driver, instead of asyncpg: "
                f"{_total(best_psycopg):.0f} ms, and ours is {_total(best_ours) / _total(best_psycopg):.2f}x that."
            ),
        )
    ]
