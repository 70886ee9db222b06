"""A throwaway PostgreSQL server for tests: the machine's own binaries, a temp cluster, a free port.

initdb refuses to run as root, so as root the cluster is created and started as the
`postgres` system user (Debian's packages create it). Starting takes well under a second.
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from simulator.server import free_port


def _bindir() -> Path:
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
        if (Path(out) / "initdb").exists():
            return Path(out)
    except (OSError, subprocess.CalledProcessError):
        pass
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not candidates:
        raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
    return candidates[-1].parent


@dataclass
class PostgresServer:
    root: Path
    port: int
    bindir: Path
    as_user: list[str]
    password: str = "wirelane-test"
    user: str = "wirelane"
    database: str = "wirelane"

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, text=True)

    def start(self) -> None:
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-l", str(self.root / "log"), "-w",
            "-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", mode, "-w", "stop")

    def psql(self, sql: str) -> str:
        env = {**os.environ, "PGPASSWORD": self.password}
        result = subprocess.run(
            [str(self.bindir / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", self.database, "-Atc", sql],
            capture_output=True, text=True, check=True, env=env,
        )  # fmt: skip
        return result.stdout.strip()


def start_postgres() -> PostgresServer:
    bindir = _bindir()
    root = Path(tempfile.mkdtemp(prefix="wirelane-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        root.chmod(0o700)
        as_user = ["runuser", "-u", "postgres", "--"]
    server = PostgresServer(root=root, port=free_port(), bindir=bindir, as_user=as_user)
    owner = "postgres" if as_user else getpass.getuser()
    server._run(
        str(bindir / "initdb"), "-D", str(root / "data"), "-U", owner, "--auth=trust", "-E", "UTF8", "--no-sync"
    )
    server.start()
    env = {**os.environ}
    subprocess.run(
        [str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(server.port), "-U", owner, "-d", "postgres", "-v", "ON_ERROR_STOP=1",
         "-c", f"create role {server.user} login superuser password '{server.password}'",
         "-c", f"create database {server.database} owner {server.user}"],
        check=True, capture_output=True, text=True, env=env,
    )  # fmt: skip
    return server


def remove(server: PostgresServer) -> None:
    try:
        server.stop("immediate")
    finally:
        shutil.rmtree(server.root, ignore_errors=True)
