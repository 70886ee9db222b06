"""A dbt process started before the command knows what to run, so that dbt's imports overlap the
command's own.

Why: dbt spends about 2.3 s importing itself before it reads its profile, and `wirelane-sync
transform` about 1 s importing dlt to read the warehouse's settings, which dbt's profile needs.
One after the other that is 3.3 s of every build (a fifth of an incremental one at 1,000,000
sessions); on two cores the two imports run side by side. The process runs `dbt` exactly as its
console script does, once it has read its orders: one JSON line on stdin with the environment
to add (the warehouse's settings, which dbt's profile reads) and dbt's arguments. Closing stdin
without orders ends it.

This module imports nothing of dlt's or dbt's: the command imports it first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from types import TracebackType


class DbtProcess:
    """`python -m pipelines.dbt_process`, importing dbt until `run` tells it what to do."""

    def __init__(self) -> None:
        environment = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        self._process = subprocess.Popen(
            # -P: the directory it runs in is not searched for modules (a folder named dbt there)
            [sys.executable, "-P", "-m", "pipelines.dbt_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=environment,
        )
        self._ran = False

    def run(self, environment: Mapping[str, str], arguments: Sequence[str]) -> subprocess.CompletedProcess[str]:
        """Sends the orders and waits for dbt: its exit code and output (stderr merged)."""
        if self._ran:
            raise RuntimeError("a DbtProcess runs one dbt command")
        self._ran = True
        orders = json.dumps({"environment": dict(environment), "arguments": list(arguments)})
        output, _ = self._process.communicate(orders + "\n")
        return subprocess.CompletedProcess(self._process.args, self._process.returncode, output, "")

    @property
    def returncode(self) -> int | None:
        """The process's exit code once it ended (negative: the signal that ended it)."""
        return self._process.returncode

    def __enter__(self) -> DbtProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        """Unused (the settings were wrong), or left by an error or an interrupt (the command
        was stopped): ended at once, as `subprocess.run` ends its process, rather than after
        its imports or its build."""
        if self._process.poll() is None and (kind is not None or not self._ran):
            self._process.kill()
        self._process.wait()


def _serve() -> None:
    from dbt.cli.main import cli  # the slow part, done while the parent reads its settings

    line = sys.stdin.readline()
    if not line:
        return
    orders = json.loads(line)
    os.environ.update(orders["environment"])
    sys.exit(cli(args=orders["arguments"], prog_name="dbt"))


if __name__ == "__main__":
    _serve()
