"""worker.toml: the reference worker's jobs (docs/workers.md).

    [[jobs]]
    id = "backup"                       # the worker's own id for the job (required)
    name = "nightly-backup"             # shown in the console (default: the id)
    command = ["/usr/bin/rsync", "-a", "/Users/me/", "/Volumes/backup/"]   # an argument list; no shell
    timeout = 3600                      # seconds (default 600)
    schedule = "0 3 * * *"              # optional: shown in the console
    schedule_kind = "cron"              # optional: cron or interval also feeds the overdue alert
    timezone = "Europe/Berlin"          # optional, for the schedule
    instructions = "Backs up the Mac mini to the USB disk."   # optional, shown with the job

Every problem is one line naming the job and the field.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT = 600.0


class ConfigError(Exception):
    """worker.toml cannot be used; the message names the job and field."""


@dataclass(frozen=True)
class WorkerJob:
    id: str
    name: str
    command: tuple[str, ...]
    timeout: float
    schedule: str | None = None
    schedule_kind: str | None = None
    timezone: str | None = None
    instructions: str | None = None


def load_jobs(path: Path) -> list[WorkerJob]:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as error:
        raise ConfigError(f"{path}: cannot read it ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    entries = data.get("jobs", [])
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise ConfigError(f"{path}: jobs must be a list of [[jobs]] tables")
    jobs = [_job(path, index, entry) for index, entry in enumerate(entries)]
    ids = [job.id for job in jobs]
    repeated = next((job_id for job_id in ids if ids.count(job_id) > 1), None)
    if repeated is not None:
        raise ConfigError(f"{path}: job id {repeated!r} appears more than once")
    if len(jobs) > 1000:
        raise ConfigError(f"{path}: at most 1000 jobs per worker")
    return jobs


def _job(path: Path, index: int, entry: dict[str, Any]) -> WorkerJob:
    where = f"{path}: jobs[{index}]"
    job_id = entry.get("id")
    if not isinstance(job_id, str) or not job_id.strip() or len(job_id) > 200:
        raise ConfigError(f"{where}: id must be text of 1 to 200 characters")
    where = f"{path}: job {job_id!r}"
    command = entry.get("command")
    if not isinstance(command, list) or not command or not all(isinstance(part, str) and part for part in command):
        raise ConfigError(
            f"{where}: command must be a non-empty list of strings (an argument list, run without a shell)"
        )
    timeout = entry.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 7 * 86_400:
        raise ConfigError(f"{where}: timeout must be a number of seconds between 0 and 604800")
    texts = {}
    for field in ("name", "schedule", "schedule_kind", "timezone", "instructions"):
        value = entry.get(field)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{where}: {field} must be text")
        texts[field] = value
    unknown = sorted(set(entry) - {"id", "command", "timeout", *texts})
    if unknown:
        raise ConfigError(f"{where}: unknown field {unknown[0]!r}")
    return WorkerJob(
        id=job_id,
        name=texts["name"] or job_id,
        command=tuple(command),
        timeout=float(timeout),
        schedule=texts["schedule"],
        schedule_kind=texts["schedule_kind"],
        timezone=texts["timezone"],
        instructions=texts["instructions"],
    )
