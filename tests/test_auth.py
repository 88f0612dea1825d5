"""The CRON_SECRET guard and configuration answers, through the HTTP app."""

from __future__ import annotations

import logging

import pytest

from lib.settings import load_settings
from tests.conftest import AUTH, SECRET, app_client

NEXT = "next-secret-fedcba9876543210"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-secret-0123456789"},
        {"Authorization": f"Basic {SECRET}"},
        {"Authorization": SECRET},
        {"Authorization": "Bearer "},
        {"X-Cron-Secret": SECRET},
        {"Authorization": f"Bearer {SECRET}x"},
    ],
)
async def test_missing_or_wrong_credentials_get_401(client, headers):
    response = await client.get("/api/cron/check-stale", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized"}
    assert response.headers["www-authenticate"] == "Bearer"


async def test_secret_in_query_string_does_not_count(client):
    response = await client.get(f"/api/cron/check-stale?secret={SECRET}")
    assert response.status_code == 401


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
async def test_right_secret_passes_with_any_case_of_bearer(client, scheme):
    response = await client.get("/api/cron/check-stale", headers={"Authorization": f"{scheme} {SECRET}"})
    assert response.status_code == 200, response.text


async def test_next_secret_passes_for_rotation(make_settings, db):
    async with app_client(make_settings(cron_secret_next=NEXT)) as http:
        response = await http.get("/api/cron/check-stale", headers={"Authorization": f"Bearer {NEXT}"})
        assert response.status_code == 200
        response = await http.get("/api/cron/check-stale", headers=AUTH)
        assert response.status_code == 200


async def test_configured_secret_is_stripped(make_settings, db):
    async with app_client(make_settings(cron_secret=f"  {SECRET}\n")) as http:
        response = await http.get("/api/cron/check-stale", headers=AUTH)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("secret", "message"),
    [(None, "CRON_SECRET is not set"), ("   ", "CRON_SECRET is not set"), ("short", "shorter than 16")],
)
async def test_unset_or_short_secret_fails_closed_with_503(make_settings, sql, secret, message, caplog):
    async with app_client(make_settings(cron_secret=secret)) as http:
        with caplog.at_level(logging.ERROR):
            response = await http.get("/api/cron/check-stale", headers={"Authorization": "Bearer short"})
    assert response.status_code == 503
    assert message in response.json()["error"]
    assert "CRON_SECRET" in caplog.text
    runs = await sql.fetchval("select count(*) from cron_runs")
    assert runs == 0


async def test_unconfigured_database_gives_503(sql):
    settings = load_settings(_env_file=None, cron_secret=SECRET)
    async with app_client(settings) as http:
        response = await http.get("/api/cron/check-stale", headers=AUTH)
    assert response.status_code == 503
    assert "database is not configured" in response.json()["error"]


async def test_half_configured_supabase_names_the_missing_variable(sql):
    settings = load_settings(_env_file=None, cron_secret=SECRET, supabase_url="https://x.supabase.co")
    async with app_client(settings) as http:
        response = await http.get("/api/cron/check-stale", headers=AUTH)
    assert response.status_code == 503
    assert "SUPABASE_SERVICE_ROLE_KEY" in response.json()["error"]


async def test_secret_is_never_logged_or_echoed(client, caplog, capsys):
    presented = "Bearer presented-but-wrong-secret-123"
    with caplog.at_level(logging.DEBUG):
        bad = await client.get("/api/cron/check-stale", headers={"Authorization": presented})
        good = await client.get("/api/cron/check-stale", headers=AUTH)
    out = capsys.readouterr()
    for text in (caplog.text, out.out, out.err, bad.text, good.text):
        assert SECRET not in text
        assert "presented-but-wrong" not in text
