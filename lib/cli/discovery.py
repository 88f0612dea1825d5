"""The CLI on the local stack's database when no database is configured.

`python -m lib runs` in a second terminal, beside a running `dev.py local`,
should just work: with no SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY or
DATABASE_URL in the environment or `.env`, the CLI takes the running stack's
DATABASE_URL and the secrets it keeps in its data folder (CRONRELAY_DATA or
.data/), so webhook runs started here are signed as the stack signs them. It
says so on stderr, in one line, without the values. With no stack either, a
database error says how to start one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from lib.local.datafolder import Files, files, in_use

DATABASE_NAMES = ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "DATABASE_URL")
# Taken from the stack only when not configured here: a configured one wins.
KEPT_SECRETS = (("WEBHOOK_SIGNING_SECRET", "signing_secret"), ("CRON_SECRET", "cron_secret"))

_no_stack: list[str] = []


def _dotenv(name: str) -> str:
    """`name` from ./.env, where pydantic-settings reads it (the working directory)."""
    try:
        lines = Path(".env").read_text().splitlines()
    except OSError:
        return ""
    for line in lines:
        key, _, value = line.partition("=")
        if key.strip() == name:
            return value.strip().strip("'\"")
    return ""


def configured(name: str) -> bool:
    return bool(os.environ.get(name, "").strip() or _dotenv(name))


LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def checks_this_machine(argv: list[str]) -> bool:
    """Whether a command is about this machine: `doctor --url` of a deployment is not, and
    must not take the local stack's database or secret for the deployment's."""
    if argv[:1] != ["doctor"]:
        return True
    urls = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "--url"]
    urls += [arg.partition("=")[2] for arg in argv if arg.startswith("--url=")]
    return bool(urls) and all(urlsplit(url).hostname in LOCAL_HOSTS for url in urls)


def use_local_stack(where: Files | None = None) -> bool:
    """Point this process at the running local stack when no database is configured; True if it did."""
    if any(configured(name) for name in DATABASE_NAMES):
        return False
    stack = where or files()
    if not (in_use(stack) and stack.database_url.exists()):
        _no_stack[:] = [str(stack.data)]
        return False
    os.environ["DATABASE_URL"] = stack.database_url.read_text().strip()
    taken = ["DATABASE_URL"]
    for name, attribute in KEPT_SECRETS:
        kept: Path = getattr(stack, attribute)
        if not configured(name) and kept.exists():
            os.environ[name] = kept.read_text().strip()
            taken.append(name)
    print(
        f"using the local stack's database ({' and '.join(_join(taken))} from {stack.data}); "
        "set DATABASE_URL to use another",
        file=sys.stderr,
        flush=True,
    )
    return True


def _join(names: list[str]) -> list[str]:
    return [", ".join(names[:-1]), names[-1]] if len(names) > 1 else names


def with_hint(error: Exception) -> str:
    """The error's line, plus how to start a local stack when that is what was missing."""
    text = str(error)
    missing = "database is not configured" in text or "DATABASE_URL is not set" in text
    if missing and _no_stack:
        text += (
            f"; no local stack is running on {_no_stack[0]} either: start one with `python3 dev.py local` "
            "in another terminal and this command uses it"
        )
    return text
