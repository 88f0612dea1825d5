"""The page against a stand-in of its data API, shaped as /work/notes/ops_api.md says.

The real data routes come with the job-management module; until then this
checks that the page renders the contract's objects and drives its actions:
rows, search, Run now and the chip that follows the request without a reload,
pause and resume, a field error from a 422, Retry. The stand-in sits behind the
real guard (OpsReader/OpsWriter), so every write also proves the page sends
the write header.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from lib.ops import OpsReader, OpsRoute, OpsWriter
from lib.settings import load_settings
from tests.browser.conftest import DOCS, SECRET, Browser, serve
from tests.test_ops_access import ops_app

NOW = "2026-11-23T10:00:00Z"


def _job(name: str, **fields: Any) -> dict[str, Any]:
    job = {
        "id": f"id-{name}",
        "project_id": "default",
        "name": name,
        "kind": "webhook",
        "target": f"https://hooks.example.test/{name}",
        "payload": {},
        "schedule_type": "interval",
        "schedule": "every 5m",
        "timezone": "UTC",
        "schedule_text": "every 5 minutes (UTC)",
        "enabled": True,
        "source": "user",
        "editable": True,
        "next_run_at": "2026-11-23T10:05:00Z",
        "last_run_at": NOW,
        "last_status": "ok",
        "last_duration_ms": 38,
        "schedule_error": None,
        "fired_at": None,
        "created_at": NOW,
        "updated_at": NOW,
    }
    job.update(fields)
    return job


class StandIn:
    """The data API's state: jobs and run requests in memory."""

    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.jobs = {
            job["id"]: job
            for job in (
                _job("nightly-report"),
                _job(
                    "check-stale",
                    kind="builtin",
                    target=None,
                    schedule_type="vercel",
                    schedule="*/5 * * * *",
                    editable=False,
                    source="user",
                    last_status="error",
                ),
                _job("billing-sync", project_id="billing"),
            )
        }
        self.requests: list[dict[str, Any]] = [
            self._request(self.jobs["id-nightly-report"], "error", {"error": "HTTP 500"})
        ]

    def _request(
        self, job: dict[str, Any], status: str, result: Any = None, retry_of: str | None = None
    ) -> dict[str, Any]:
        return {
            "id": f"req-{next(self.ids)}",
            "job_id": job["id"],
            "job_name": job["name"],
            "project_id": job["project_id"],
            "status": status,
            "held": False,
            "requested_by": "ops",
            "requested_at": NOW,
            "picked_up_at": None,
            "completed_at": None,
            "attempts": 1 if status == "error" else 0,
            "max_attempts": 5,
            "available_at": NOW,
            "result": result,
            "payload": {},
            "retry_of": retry_of,
        }

    def router(self) -> APIRouter:
        api = APIRouter(prefix="/api/ops", route_class=OpsRoute)

        @api.get("/status")
        async def status(access: OpsReader) -> JSONResponse:
            return JSONResponse({"database": "ok", "problems": []})

        @api.get("/jobs")
        async def jobs(request: Request, access: OpsReader) -> JSONResponse:
            q = request.query_params.get("q", "")
            project = request.query_params.get("project", "default")
            shown = [j for j in self.jobs.values() if j["project_id"] == project and q in j["name"]]
            wanted = request.query_params.get("filter", "all")
            if wanted != "all":
                shown = [j for j in shown if {"enabled": j["enabled"], "paused": not j["enabled"]}.get(wanted, True)]
            projects = sorted({j["project_id"] for j in self.jobs.values()})
            return JSONResponse({"jobs": shown, "projects": projects, "has_more": False})

        @api.post("/jobs")
        async def create(request: Request, access: OpsWriter) -> JSONResponse:
            body = json.loads(await request.body())
            if body.get("schedule") != "every 2h":
                return JSONResponse({"error": "schedule: not a schedule (try every 2h)", "field": "schedule"}, 422)
            job = _job(body["name"], schedule="every 2h", schedule_text="every 2 hours (UTC)", last_run_at=None)
            self.jobs[job["id"]] = job
            return JSONResponse({"job": job}, 201)

        @api.get("/jobs/{job_id}")
        async def show(job_id: str, access: OpsReader) -> JSONResponse:
            job = self.jobs.get(job_id)
            if job is None:
                return JSONResponse({"error": "no such job"}, 404)
            requests = [r for r in self.requests if r["job_id"] == job_id]
            next_runs = [f"2026-11-23T1{i}:00:00Z" for i in range(5)]
            return JSONResponse({"job": job, "next_runs": next_runs, "runs": [], "requests": requests})

        @api.post("/jobs/{job_id}/{action}")
        async def act(job_id: str, action: str, access: OpsWriter) -> JSONResponse:
            job = self.jobs[job_id]
            if action == "run":
                request = self._request(job, "queued")
                self.requests.insert(0, request)
                return JSONResponse({"request": request}, 201)
            job["enabled"] = action == "resume"
            return JSONResponse({"job": job})

        @api.get("/requests")
        async def requests(access: OpsReader) -> JSONResponse:
            return JSONResponse({"requests": self.requests, "has_more": False})

        @api.post("/requests/{request_id}/retry")
        async def retry(request_id: str, access: OpsWriter) -> JSONResponse:
            old = next(r for r in self.requests if r["id"] == request_id)
            request = self._request(self.jobs[old["job_id"]], "queued", retry_of=old["id"])
            self.requests.insert(0, request)
            return JSONResponse({"request": request}, 201)

        @api.get("/runs")
        async def runs(access: OpsReader) -> JSONResponse:
            return JSONResponse({"runs": [], "has_more": False})

        return api


@pytest.fixture(scope="module")
def stand_in() -> StandIn:
    return StandIn()


@pytest.fixture(scope="module")
def stand_in_url(stand_in: StandIn) -> Iterator[str]:
    settings = load_settings(_env_file=None, cron_secret=SECRET)
    app = ops_app(lambda: settings)
    app.include_router(stand_in.router())
    with serve(app) as url:
        yield url


@pytest.fixture
def console_url(stand_in_url: str) -> str:
    return stand_in_url


def _signed_in(browser: Browser) -> Any:
    page = browser.page
    page.goto(f"{browser.base}/api/ops")
    page.get_by_test_id("secret").fill(SECRET)
    page.get_by_test_id("sign-in").click()
    page.locator('[data-testid="job-row"]').first.wait_for()
    return page


def _names(page: Any) -> list[str]:
    return [row.get_attribute("data-name") for row in page.get_by_test_id("job-row").all()]


def test_jobs_render_search_narrows_and_run_now_follows_the_request(browser: Browser, stand_in: StandIn):
    page = _signed_in(browser)
    assert _names(page) == ["nightly-report", "check-stale"]
    assert page.get_by_test_id("banner").is_hidden()
    builtin = page.locator('[data-testid="job-row"][data-name="check-stale"]')
    assert builtin.get_by_test_id("edit").count() == 0 and builtin.get_by_test_id("run-now").count() == 1
    assert "every 5 minutes (UTC)" in page.locator('[data-name="nightly-report"]').inner_text()
    assert sorted(o.get_attribute("value") for o in page.get_by_test_id("project").locator("option").all()) == [
        "billing",
        "default",
    ]
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / "console-jobs.png"), full_page=True)

    page.get_by_test_id("search").fill("night")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=job-row]').length === 1")
    assert _names(page) == ["nightly-report"]

    row = page.locator('[data-testid="job-row"][data-name="nightly-report"]')
    row.get_by_test_id("run-now").click()
    chip = page.locator('[data-testid="request-row"]').first.get_by_test_id("request-chip")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=request-row]').length === 2")
    assert chip.get_attribute("data-status") == "queued"
    stand_in.requests[0].update(status="done", result={"status": 200})
    page.wait_for_selector('[data-testid="request-row"]:first-child [data-testid="request-chip"][data-status="done"]')
    chip.click()
    assert json.loads(page.get_by_test_id("request-result").inner_text()) == {"status": 200}

    row.get_by_test_id("pause").click()
    row.get_by_test_id("resume").wait_for()
    assert row.get_attribute("data-enabled") == "false" and not stand_in.jobs["id-nightly-report"]["enabled"]
    row.get_by_test_id("resume").click()
    row.get_by_test_id("pause").wait_for()

    failed = page.locator('[data-testid="request-chip"][data-status="error"]')
    assert failed.count() == 1
    page.locator('[data-testid="request-row"]', has=failed).get_by_test_id("retry").click()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=request-row]').length === 3")
    assert stand_in.requests[0]["retry_of"] == "req-1"

    assert page.get_by_test_id("last-refreshed").inner_text().startswith("last refreshed ")
    assert browser.console_errors(set()) == []
    assert browser.foreign_requests() == []


def test_create_job_shows_a_field_error_then_saves(browser: Browser, stand_in: StandIn):
    page = _signed_in(browser)
    page.get_by_test_id("create-job").click()
    page.locator("#f-name").fill("hourly-ping")
    page.locator("#f-target").fill("https://hooks.example.test/ping")
    page.locator("#f-schedule").fill("every two hours")
    page.get_by_test_id("save-job").click()
    error = page.get_by_test_id("field-error-schedule")
    error.wait_for()
    assert "not a schedule" in error.inner_text()
    assert page.locator("#f-schedule").get_attribute("aria-invalid") == "true"

    page.locator("#f-schedule").fill("every 2h")
    page.get_by_test_id("save-job").click()
    page.get_by_test_id("job-form").wait_for(state="hidden")
    page.locator('[data-testid="job-row"][data-name="hourly-ping"]').wait_for()
    # The 422 is the one failed fetch this test expects.
    assert browser.console_errors({(422, "/api/ops/jobs")}) == []
    assert browser.foreign_requests() == []


def test_a_jobs_page_and_phone_width(browser: Browser):
    page = _signed_in(browser)
    page.set_viewport_size({"width": 390, "height": 844})
    page.locator('[data-name="nightly-report"]').get_by_test_id("job-link").click()
    page.get_by_test_id("job-detail").wait_for()
    page.locator('[data-testid="next-runs"] li').nth(4).wait_for()
    assert page.locator("#detail-title").inner_text() == "nightly-report"
    assert page.get_by_test_id("jobs-panel").count() == 0 or page.locator("#jobs-panel").is_hidden()
    scroll, inner = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner
    page.get_by_test_id("detail-close").click()
    page.locator("#jobs-panel").wait_for()
    scroll, inner = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner
    assert browser.console_errors(set()) == []
