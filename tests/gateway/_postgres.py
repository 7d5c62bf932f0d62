"""A real PostgreSQL server for the tests, started from Debian's binaries on loopback.

``.ci/run`` installs Debian's ``postgresql`` package; the server binaries live in
``/usr/lib/postgresql/<version>/bin`` (not on ``PATH``). Each :class:`PostgresServer` is a
throw-away cluster: ``initdb`` into a temporary directory, ``postgres`` listening on
127.0.0.1 at a free port with its Unix socket in that directory, trust authentication (nothing
but this machine can reach it), durability off (a test cluster never outlives its tests).

PostgreSQL refuses to run as root, so when the tests run as root (as CI does) the cluster
belongs to an unprivileged account: ``postgres`` (which the Debian package creates), else
``nobody``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from .conftest import free_port

STARTUP_TIMEOUT = 30.0
MISSING = (
    "PostgreSQL server binaries (initdb, postgres) were not found in "
    "/usr/lib/postgresql/*/bin or on PATH. These tests run the gateway on a real PostgreSQL "
    "server; .ci/run installs it from Debian's `postgresql` package "
    "(apt-get update && apt-get install -y postgresql)."
)


def find_bindir() -> Path | None:
    """The newest installed server's ``bin`` directory, or ``None``."""

    def version(path: Path) -> tuple[int, ...]:
        parts = path.parent.parent.name.split(".")
        return tuple(int(p) for p in parts if p.isdigit())

    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=version)
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


class PostgresServer:
    """One temporary cluster; :meth:`database` makes an empty database and returns its URL."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="vidgate-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            account = _unprivileged_account()
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._as = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

    def start(self) -> PostgresServer:
        subprocess.run(
            [
                str(self.bindir / "initdb"),
                "--pgdata",
                str(self.data),
                "--username",
                "postgres",
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ],
            cwd=self.root,
            check=True,
            capture_output=True,
            **self._as,
        )
        for _ in range(3):  # another process may take the free port before we bind it
            self.port = free_port()
            if self._launch():
                return self
        raise RuntimeError(f"PostgreSQL did not start:\n{self.log.read_text()}")

    def _launch(self) -> bool:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.root),
            "max_connections": "200",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        args = [str(self.bindir / "postgres"), "-D", str(self.data)]
        for name, value in settings.items():
            args += ["-c", f"{name}={value}"]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                args, cwd=self.root, stdout=log, stderr=log, start_new_session=True, **self._as
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                return False
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=1):
                    return True
            except psycopg.OperationalError:
                time.sleep(0.05)
        self.stop()
        return False

    def dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def url(self, database: str) -> str:
        """The ``database_url`` a gateway is configured with."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def database(self, name: str | None = None) -> str:
        """Create an empty database; returns its URL."""
        name = name or "vg_" + secrets.token_hex(6)
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGINT)  # "fast" shutdown: ends open sessions
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _unprivileged_account() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root, and no 'postgres' or 'nobody' account to run as")


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A started server, stopped and removed on exit. Fails (never skips) the test that asks
    for it when PostgreSQL is not installed: a missing server is a broken set-up."""
    bindir = find_bindir()
    if bindir is None:
        pytest.fail(MISSING, pytrace=False)
    server = PostgresServer(bindir)
    try:
        yield server.start()
    finally:
        server.cleanup()
