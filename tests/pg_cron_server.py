"""A throwaway PostgreSQL 15 with pg_cron loaded, from Debian's packages.

    apt-get install postgresql-15 postgresql-15-cron

`initdb` and `postgres` refuse to run as root, so as root (CI) the cluster is
made and run as the `postgres` user the Debian package creates (runuser); any
other user runs them as itself. The cluster lives in a fresh directory under the
system temp dir (pytest's own tmp dirs are private to root), listens on
127.0.0.1 on a free port with trust auth, and is removed on stop.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

PG_BIN = Path(os.environ.get("PG_CRON_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_CRON_LIB = PG_BIN.parent / "lib" / "pg_cron.so"
PACKAGES = "apt-get install postgresql-15 postgresql-15-cron"
DATABASE = "postgres"


def missing() -> str | None:
    """Why the server cannot start here, naming the packages, or None when it can."""
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_ctl").exists():
        return f"PostgreSQL 15 is not installed at {PG_BIN} ({PACKAGES})"
    if not PG_CRON_LIB.exists():
        return f"pg_cron for PostgreSQL 15 is not installed ({PACKAGES})"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return f"running as root and there is no `postgres` user to run initdb as ({PACKAGES} creates it)"
        if shutil.which("runuser") is None:
            return "running as root and `runuser` (util-linux) is missing, so initdb cannot drop root"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class PgCronServer:
    root: Path
    port: int

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        result = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{Path(command[0]).name} failed: {result.stderr.strip() or result.stdout.strip()}")

    def start(self) -> None:
        self._run(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# tests/pg_cron_server.py\n"
                "shared_preload_libraries = 'pg_cron'\n"
                f"cron.database_name = '{DATABASE}'\n"
                "listen_addresses = '127.0.0.1'\n"
                f"port = {self.port}\n"
                f"unix_socket_directories = '{self.root}'\n"
                "fsync = off\n"
            )
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "start")

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def start_server() -> PgCronServer:
    root = Path(tempfile.mkdtemp(prefix="cronrelay-pg-cron-"))
    if os.geteuid() == 0:
        postgres = pwd.getpwnam("postgres")
        os.chown(root, postgres.pw_uid, postgres.pw_gid)
    server = PgCronServer(root, _free_port())
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server
