"""Structured JSON logs, one object per line, carrying service and correlation id.

Processes under a supervisor (the stack, CI) write JSON to stderr for machines to read. A person
at a terminal gets one concise line per record instead (``WAYMARK_LOG_FORMAT=json`` forces JSON
there too, ``human`` forces lines everywhere), and ``waymark run``/``demo`` keep the full JSON log
in a file under the run directory while the terminal shows only warnings.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from shared import context

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": getattr(record, "service", self.service),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        correlation_id = context.current()
        if correlation_id:
            entry["correlation_id"] = correlation_id
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class HumanFormatter(logging.Formatter):
    """``12:03:04 WARNING referral  store unreachable  correlation_id=… attempt=3``."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        service = getattr(record, "service", self.service)
        extras = {k: v for k, v in record.__dict__.items() if k not in _RESERVED and k != "service"}
        correlation_id = context.current()
        if correlation_id:
            extras = {"correlation_id": correlation_id, **extras}
        line = f"{when} {record.levelname:<7} {service:<12} {record.getMessage()}"
        if extras:
            line += "  " + " ".join(f"{k}={v}" for k, v in extras.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def human_terminal(stream: object = None) -> bool:
    """Lines for a person: asked for, or (by default) stderr is a terminal."""
    chosen = os.environ.get("WAYMARK_LOG_FORMAT", "auto").lower()
    if chosen in ("json", "human"):
        return chosen == "human"
    isatty = getattr(stream or sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def configure(
    service: str, level: str = "INFO", *, log_file: Path | None = None, terminal_level: str | None = None
) -> None:
    """Route every logger to stderr (and to ``log_file`` as JSON, when given); idempotent so
    embedded mode can call it per service. ``terminal_level`` quietens stderr only."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_waymark", False):
            root.removeHandler(handler)
            handler.close()
    terminal = logging.StreamHandler(sys.stderr)
    terminal.setFormatter(HumanFormatter(service) if human_terminal() else JsonFormatter(service))
    terminal.setLevel((terminal_level or level).upper())
    handlers: list[logging.Handler] = [terminal]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(log_file, encoding="utf-8")
        to_file.setFormatter(JsonFormatter(service))
        handlers.append(to_file)
    for handler in handlers:
        handler._waymark = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("kafka", "werkzeug", "pymongo", "mongomock"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
