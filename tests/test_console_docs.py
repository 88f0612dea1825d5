"""Every example in docs/console-robustness.md runs, in order, as written.

Each ```http block (`METHOD /path` on its first line, an optional JSON body
after it) is sent to the app with the bearer secret; the ```json block that
follows must match the answer in every field it shows (objects: the fields
shown; everything else: equal). `$JOB` and `$FAILED` are a webhook job named
nightly-export and a request of it that ended error, made before the first
example.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from lib.settings import Settings
from tests.conftest import AUTH
from tests.factories import add_job, add_request
from tests.fakes.webhook import WEBHOOK_SECRET

DOC = Path(__file__).resolve().parent.parent / "docs" / "console-robustness.md"
_FENCE = re.compile(r"^```(\w*)\s*$")


def examples(text: str) -> list[tuple[int, str, str, str]]:
    """(line, method and path, body, expected answer) for each ```http block and the ```json block after it."""
    blocks: list[tuple[int, str, list[str]]] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        start = index + 1
        index = start
        while index < len(lines) and lines[index].strip() != "```":
            index += 1
        blocks.append((start, opening[1], lines[start:index]))
        index += 1
    found = []
    for (line, kind, body), following in zip(blocks, [*blocks[1:], (0, "", [])], strict=True):
        if kind != "http":
            continue
        assert following[1] == "json", f"docs line {line}: an http example needs a json answer after it"
        found.append((line, body[0], "\n".join(body[1:]).strip(), "\n".join(following[2])))
    return found


def matches(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and matches(v, actual[k]) for k, v in expected.items())
    return bool(expected == actual)


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(webhook_signing_secret=WEBHOOK_SECRET)


async def test_every_example_in_the_doc_runs_as_written(client: httpx.AsyncClient, sql: asyncpg.Connection) -> None:
    job = await add_job(sql, "nightly-export", schedule_type="interval", schedule="every 2h")
    failed = await add_request(sql, job)
    await sql.execute("update public.cron_run_requests set status = 'error' where id = $1::uuid", failed)
    values = {"$JOB": job, "$FAILED": failed}

    def filled(text: str) -> str:
        for name, value in values.items():
            text = text.replace(name, value)
        return text

    found = examples(DOC.read_text())
    assert len(found) >= 6
    for line, request, body, answer in found:
        method, path = filled(request).split(" ", 1)
        content = filled(body).encode() if body else None
        response = await client.request(method, path, content=content, headers=AUTH)
        expected = json.loads(filled(answer))
        assert matches(expected, response.json()), f"docs line {line}: {request}\n{response.text[:500]}"
