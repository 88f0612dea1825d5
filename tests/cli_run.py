"""Running the command line inside a test: `python -m lib <args>`, with its exit code and output."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from lib.cli.main import main


async def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of one CLI call."""
    # The CLI runs its own event loop (asyncio.run), so it gets a thread of its own.
    code = await asyncio.to_thread(main, list(args))
    out, err = capsys.readouterr()
    return code, out, err


async def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    """One CLI call with --json that must succeed, as the object it printed."""
    code, out, err = await cli(capsys, *args, "--json")
    assert code == 0, err
    value = json.loads(out)
    assert isinstance(value, dict)
    return value
