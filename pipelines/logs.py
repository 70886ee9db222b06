"""Logging for the command line: text or JSON lines on stderr, one place that masks secrets.

Why one handler on the root logger: the source, dlt and httpx each log under their own names,
and a log shipper wants one format for all of them. dlt gives its own logger a private handler
and format whenever it initialises (and turns propagation off); a forwarding handler installed
first is what dlt then reuses, so dlt's records come out in our format too.

Secrets never reach the output: every line, and every extra field, goes through `redact`, which
masks the values of the secrets this process was configured with (environment variables and
`.dlt/secrets.toml`) and anything shaped like a credential (bearer tokens, JWTs, `password=`,
the password of a DSN), whatever logger wrote it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import tomllib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, TextIO

LogFormat = Literal["text", "json"]
LEVELS: Final = ("debug", "info", "warning", "error")
# Libraries that are chatty at INFO (httpx logs every request): they speak at WARNING unless
# the operator asks for DEBUG.
QUIET_LIBRARIES: Final = ("httpx", "httpcore", "dlt", "urllib3", "filelock", "sqlfluff")
_RECORD_FIELDS: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
# settings whose value is a secret: the last part of the name ends so (PGPASSWORD, CLIENT_SECRET,
# sources.wirelane.credentials.password; not TOKEN_URL). A DSN only has its password masked.
_SECRET_NAME: Final = re.compile(r"(PASSWORD|SECRET|TOKEN|API_KEY|PRIVATE_KEY)$", re.IGNORECASE)
_DSN_PASSWORD: Final = re.compile(r"://[^:/@\s]+:([^@/\s]+)@")
_MASK: Final = "***"
_PATTERNS: Final = (
    # Authorization headers and bare bearer tokens
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), rf"\1{_MASK}"),
    # JWTs anywhere (access and refresh tokens of the Wirelane OAuth server are JWTs)
    (re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), _MASK),
    # key=value, key: value, "key": "value" for credential-like keys
    (
        re.compile(
            r"(?i)((?:password|passwd|client_secret|secret|access_token|refresh_token|id_token|api_key)"
            r"[\"']?\s*[=:]\s*[\"']?)[^\s\"'&,;}]+"
        ),
        rf"\1{_MASK}",
    ),
    # the password of a URL or DSN: scheme://user:password@host
    (re.compile(r"(://[^:/@\s]+:)[^@/\s]+@"), rf"\1{_MASK}@"),
)


class Redactor:
    """Masks known secret values and credential-shaped text."""

    def __init__(self, secrets: set[str] | None = None) -> None:
        # longest first, so a secret that contains another is masked whole
        self._secrets = sorted({s for s in secrets or set() if len(s) >= 4}, key=len, reverse=True)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Redactor:
        """The secrets this process may use: credential-like environment variables and every
        value of `.dlt/secrets.toml` (where dlt reads them), DSN passwords included."""
        settings = list((os.environ if environ is None else environ).items())
        secrets_file = (cwd or Path.cwd()) / ".dlt" / "secrets.toml"
        # no secrets file, or a broken one dlt will complain about itself
        with contextlib.suppress(OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            settings += list(_leaves(tomllib.loads(secrets_file.read_text())))
        values = {value for name, value in settings if _SECRET_NAME.search(re.split(r"__|\.", name)[-1])}
        values |= {m.group(1) for _, value in settings for m in _DSN_PASSWORD.finditer(value)}
        return cls(values)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, _MASK)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


def _leaves(value: object, name: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key, value) of every string in a TOML document."""
    if isinstance(value, str):
        yield name, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{name}.{key}")
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item, name)


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """What the caller passed as `extra=`: everything on the record that logging did not set."""
    return {key: value for key, value in vars(record).items() if key not in _RECORD_FIELDS and not key.startswith("_")}


def _redact_value(value: Any, redact: Redactor) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {str(k): _redact_value(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v, redact) for v in value]
    return value


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the record's extra fields."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": self.redact(record.getMessage()),
        }
        for key, value in extra_fields(record).items():
            document.setdefault(key, _redact_value(value, self.redact))
        if record.exc_info:
            document["exception"] = self.redact(self.formatException(record.exc_info))
        return json.dumps(document, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`2026-11-01T12:00:00.000Z INFO wirelane_sync.progress: message` for people and journald."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return self.redact(line)


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is at the time, so a live progress display that redirects
    stderr can print log lines above itself instead of being torn by them."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


class _Forward(logging.Handler):
    """Hands a library's records to the root logger's handlers; ignores formatters set on it
    (dlt sets its own every time it initialises, see the module docstring)."""

    def setFormatter(self, fmt: logging.Formatter | None) -> None:
        pass

    def emit(self, record: logging.LogRecord) -> None:
        for handler in logging.getLogger().handlers:
            if record.levelno >= handler.level:
                handler.handle(record)


_STATE: dict[str, Any] = {"format": "text", "redact": Redactor()}


def setup(log_format: LogFormat = "text", level: str = "info") -> None:
    """Configures logging for this process (idempotent; the last call wins)."""
    redact = Redactor.from_environment()
    _STATE.update(format=log_format, redact=redact)
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}; use one of {', '.join(LEVELS)}")
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter(redact) if log_format == "json" else TextFormatter(redact))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    library_level = numeric if numeric <= logging.DEBUG else max(numeric, logging.WARNING)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(library_level)
    # dlt re-creates its logger from `runtime.log_level` when a pipeline is made: tell it the
    # level, and give it our forwarding handler to reuse.
    os.environ["RUNTIME__LOG_LEVEL"] = logging.getLevelName(library_level)
    dlt_logger = logging.getLogger("dlt")
    for old in dlt_logger.handlers[:]:
        dlt_logger.removeHandler(old)
    dlt_logger.addHandler(_Forward())


def redact(text: str) -> str:
    """The text with the configured secrets masked (for lines that do not go through logging)."""
    redactor: Redactor = _STATE["redact"]
    return redactor(text)


def is_json() -> bool:
    return bool(_STATE["format"] == "json")


def error_line(message: str, **fields: Any) -> str:
    """The one line a failing command prints on stderr: `error: ...`, or a JSON object when the
    logs are JSON (a log shipper then gets the failure like any other record)."""
    message = redact(message)
    if not is_json():
        return f"error: {message}"
    document = {"time": _timestamp(logging.makeLogRecord({})), "level": "ERROR", "logger": "wirelane_sync.cli"}
    return json.dumps({**document, "message": message, **fields}, default=str, ensure_ascii=False)
