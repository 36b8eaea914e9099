from __future__ import annotations

import io
import json
import logging

import pytest

from shared import context, logs


@pytest.fixture(autouse=True)
def restore_root_logger():
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in before:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def _record(msg: str = "store unreachable", **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "shared.store", "levelname": "WARNING", "msg": msg})
    record.__dict__.update(extra)
    return record


def test_a_person_at_a_terminal_gets_one_short_line_with_the_fields():
    with context.bound("cid-1"):
        line = logs.HumanFormatter("referral").format(_record(attempt=3))
    assert "\n" not in line and not line.startswith("{")
    assert "WARNING" in line and "referral" in line and "store unreachable" in line
    assert "correlation_id=cid-1" in line and "attempt=3" in line


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("chosen", "tty", "human"),
    [("auto", True, True), ("auto", False, False), ("json", True, False), ("human", False, True)],
)
def test_the_format_follows_the_terminal_unless_asked(monkeypatch, chosen, tty, human):
    monkeypatch.setenv("WAYMARK_LOG_FORMAT", chosen)
    assert logs.human_terminal(_Tty() if tty else io.StringIO()) is human


def test_the_file_keeps_every_record_as_json_while_the_terminal_shows_warnings(monkeypatch, tmp_path):
    monkeypatch.setenv("WAYMARK_LOG_FORMAT", "human")
    terminal = io.StringIO()
    monkeypatch.setattr("sys.stderr", terminal)
    log_file = tmp_path / "run" / "waymark.log"
    logs.configure("platform", log_file=log_file, terminal_level="WARNING")

    logging.getLogger("services.demo").info("seeded a referral")
    logging.getLogger("services.demo").warning("a school key was refused")

    written = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert [(e["level"], e["msg"]) for e in written] == [
        ("info", "seeded a referral"),
        ("warning", "a school key was refused"),
    ]
    shown = terminal.getvalue().splitlines()
    assert len(shown) == 1 and "a school key was refused" in shown[0] and not shown[0].startswith("{")
