"""Which progress display a command gets, decided without importing the display itself (rich,
dlt): `transform` asks only this."""

from __future__ import annotations

import os
import sys
from typing import Literal

ProgressMode = Literal["auto", "live", "log", "off"]


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty() and os.environ.get("TERM", "") != "dumb"


def resolve_mode(mode: ProgressMode, json_logs: bool) -> Literal["live", "log", "off"]:
    """`auto` is live on a terminal and log lines otherwise; JSON logs never get a live display
    (it would interleave with the JSON lines a shipper reads)."""
    if mode == "auto":
        return "live" if stderr_is_terminal() and not json_logs else "log"
    if mode == "live" and json_logs:
        return "log"
    return mode
