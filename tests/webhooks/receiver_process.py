"""`wirelane-sync webhooks serve` as an operator runs it: a process of its own, on loopback."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

SECRET = "test-webhook-secret-0123456789"
LISTENING = re.compile(r"listening on (http://[^/\s]+)(/\S+),")


@dataclass
class Receiver:
    process: subprocess.Popen[str]
    base_url: str
    path: str

    @property
    def url(self) -> str:
        return f"{self.base_url}{self.path}"

    def kill(self) -> None:
        """As a crash does: no shutdown, no flush beyond what was committed."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


def receiver_env(root: Path, secret: str | None = SECRET) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SOURCES__WIRELANE__WEBHOOK_SECRET"}
    env["DLT_DATA_DIR"] = str(root / "dlt")
    if secret is not None:
        env["SOURCES__WIRELANE__WEBHOOK_SECRET"] = secret
    return env


@contextmanager
def receiver(root: Path, port: int = 0, secret: str = SECRET) -> Iterator[Receiver]:
    """Starts the receiver and waits until it answers; stops it (SIGTERM) afterwards."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "webhooks", "serve", "--port", str(port)],
        cwd=root,
        env=receiver_env(root, secret),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert process.stderr is not None
    line = process.stderr.readline()
    found = LISTENING.search(line)
    if not found:
        process.kill()
        raise AssertionError(f"the receiver did not start: {line}{process.stderr.read()}")
    running = Receiver(process, found.group(1), found.group(2))
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{running.base_url}/healthz", timeout=2).raise_for_status()
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise
            time.sleep(0.05)
    try:
        yield running
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=15)
