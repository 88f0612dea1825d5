"""api/index.py for Vercel and AWS Lambda, and `python -m lib run`."""

from __future__ import annotations

import asyncio
import importlib
import json
import subprocess
import sys
from typing import Any

import pytest

from lib.settings import get_settings
from tests.conftest import SECRET


def _api_gateway_v2_event(path: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"authorization": f"Bearer {SECRET}", "host": "example.execute-api.test", "user-agent": "curl/8"},
        "requestContext": {
            "accountId": "123",
            "apiId": "api",
            "domainName": "example.execute-api.test",
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4", "userAgent": "curl"},
            "requestId": "req",
            "routeKey": "$default",
            "stage": "$default",
            "time": "23/Nov/2026:10:00:00 +0000",
            "timeEpoch": 0,
        },
        "isBase64Encoded": False,
    }


@pytest.fixture
def deployed_env(monkeypatch, pg_dsn):
    monkeypatch.setenv("CRON_SECRET", SECRET)
    monkeypatch.setenv("DATABASE_URL", pg_dsn)
    monkeypatch.delenv("SUPABASE_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_mangum_handler_serves_two_events_each_on_a_fresh_loop(deployed_env):
    index = importlib.import_module("api.index")
    results = []
    for _ in range(2):
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            results.append(index.handler(_api_gateway_v2_event("/api/cron/check-stale"), None))
        finally:
            loop.close()
            asyncio.set_event_loop(None)
    bodies = [json.loads(r["body"]) for r in results]
    assert [r["statusCode"] for r in results] == [200, 200], bodies
    assert [b["status"] for b in bodies] == ["ok", "ok"]
    assert bodies[0]["run_id"] != bodies[1]["run_id"]


def test_vercel_entry_exports_an_asgi_app():
    index = importlib.import_module("api.index")
    assert callable(index.app)
    assert index.app.router.redirect_slashes is False


def test_cli_run_prints_the_json_result(pg_dsn, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "CRON_SECRET": SECRET, "DATABASE_URL": pg_dsn}
    done = subprocess.run(
        [sys.executable, "-m", "lib", "run", "check-stale", "--dry-run"],
        capture_output=True, text=True, env=env, cwd=str(__import__("lib").__path__[0] + "/.."), timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["job"] == "check-stale"
    assert result["trigger"] == "cli"
    assert result["dry_run"] is True


def test_cli_names_a_bad_setting(pg_dsn):
    env = {"PATH": "/usr/bin:/bin", "CRON_SECRET": SECRET, "DATABASE_URL": pg_dsn, "CLEANUP_BATCH_SIZE": "-3"}
    done = subprocess.run(
        [sys.executable, "-m", "lib", "run", "cleanup-heartbeats"],
        capture_output=True, text=True, env=env, cwd=str(__import__("lib").__path__[0] + "/.."), timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "CLEANUP_BATCH_SIZE" in done.stderr
