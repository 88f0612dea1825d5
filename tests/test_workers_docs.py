"""docs/workers.md's examples: its worker.toml loads as the reference worker reads it, and its
service files start the worker the way the CLI spells it."""

from __future__ import annotations

import re
from pathlib import Path

from lib.cli.main import _parser
from lib.workers.config import load_jobs

DOC = Path(__file__).resolve().parent.parent / "docs" / "workers.md"


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"^```{kind}\n(.*?)^```", DOC.read_text(), flags=re.DOTALL | re.MULTILINE)


def test_the_documented_worker_toml_loads(tmp_path: Path) -> None:
    [toml] = _blocks("toml")
    path = tmp_path / "worker.toml"
    path.write_text(toml)
    backup, report = load_jobs(path)
    assert (backup.id, backup.name, backup.timeout, backup.schedule_kind) == ("backup", "nightly-backup", 3600, "cron")
    assert backup.command[0] == "/usr/bin/rsync" and report.name == "report"


def test_the_service_files_run_the_worker_command() -> None:
    [plist] = _blocks("xml")
    [unit] = _blocks("ini")
    assert "<string>-m</string><string>lib</string><string>worker</string>" in plist
    assert re.search(r"^ExecStart=\S+ -m lib worker --url \S+ --jobs \S+$", unit, flags=re.MULTILINE)
    # `worker` and `workers` are commands of the CLI the docs name.
    help_text = _parser().format_help()
    assert " worker " in help_text and " workers " in help_text
