"""A cold start imports only what its first request needs (bench/cold_start.py measures it).

Importing api/index.py must not pull in the console, the jobs, the outside
clients or Mangum: each loads on the first request that uses it. These tests
pin that down by module name in a fresh interpreter, and check that the
deferred parts still work when they are first asked for.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DEFERRED = [
    "lib.ops",  # the console: on the first request under /api/ops
    "lib.jobs.registry",  # the jobs: on the first job or runs request
    "lib.runner",
    "lib.workers.api",  # the worker API: on the first request under /api/worker
    "croniter",
    "httpx",
    "asyncpg",
    "psycopg",  # the adapters: when the database is first used
    "supabase",
    "mangum",  # AWS Lambda's handler: when Lambda first asks for it
    "pydantic.v1",  # FastAPI imports it to check a declared route parameter
]

PROBE = """
import json, sys
import api.index
loaded = [name for name in json.loads(sys.argv[1]) if name in sys.modules]
handler = type(api.index.handler).__name__
print(json.dumps({"loaded": loaded, "handler": handler, "mangum": "mangum" in sys.modules}))
"""


def test_importing_the_entry_point_leaves_the_heavy_parts_for_later() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(DEFERRED)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    found = json.loads(done.stdout)
    assert found["loaded"] == []
    # Asked for, the Lambda handler is there.
    assert found["handler"] == "Mangum" and found["mangum"] is True


def test_a_job_route_loads_no_cron_parser_until_a_cron_is_read() -> None:
    # The registry and runner are what a job route's first request loads; croniter
    # (and dateutil with it) comes only when a cron expression is parsed.
    probe = (
        "import sys, lib.jobs.registry, lib.runner\n"
        "before = 'croniter' in sys.modules\n"
        "from lib.clock.schedules import parse_schedule\n"
        "parse_schedule('cron', '*/5 * * * *', 'UTC')\n"
        "print(before, 'croniter' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]
