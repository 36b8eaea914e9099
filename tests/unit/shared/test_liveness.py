from __future__ import annotations

import os

import pytest

from shared.liveness import Heartbeat, check, heartbeat_path


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_fresh_heartbeat_passes_and_a_stale_or_missing_one_fails(tmp_path):
    path = heartbeat_path(str(tmp_path), "probe")
    wall = Clock()
    is_ready = check(path, stall_s=60, now=wall)
    with pytest.raises(RuntimeError, match="worker not running"):
        is_ready()
    Heartbeat(path).beat()
    wall.now = path.stat().st_mtime + 59
    is_ready()
    wall.now += 2
    with pytest.raises(RuntimeError, match="has not polled for 61s"):
        is_ready()


def test_beats_are_throttled_and_the_first_names_the_process(tmp_path):
    path = heartbeat_path(str(tmp_path), "probe")
    path.write_text("12345\n")  # the file of a worker this one replaces
    clock = Clock()
    beat = Heartbeat(path, every_s=1.0, clock=clock)
    beat.beat()
    assert path.read_text() == f"{os.getpid()}\n"
    os.utime(path, (0, 0))
    clock.now += 0.5
    beat.beat()
    assert path.stat().st_mtime == 0  # throttled: no write within the second
    clock.now += 1
    beat.beat()
    assert path.stat().st_mtime > 0
    beat.clear()
    assert not path.exists()


def test_with_numbered_workers_the_api_is_ready_while_any_one_is_fresh(tmp_path):
    base = heartbeat_path(str(tmp_path), "probe")
    first, second = heartbeat_path(str(tmp_path), "probe", "0"), heartbeat_path(str(tmp_path), "probe", "1")
    assert first.name == "probe-worker-0.heartbeat"
    wall = Clock()
    is_ready = check(base, stall_s=60, now=wall)
    Heartbeat(first).beat()
    Heartbeat(second).beat()
    os.utime(first, (0, 1000.0))  # the first worker was killed long ago
    os.utime(second, (0, 1950.0))
    wall.now = 2000.0
    is_ready()
    second.unlink()  # the second stopped cleanly
    with pytest.raises(RuntimeError, match="has not polled for 1000s"):
        is_ready()
    first.unlink()
    with pytest.raises(RuntimeError, match="worker not running"):
        is_ready()
    # Another service whose name starts the same is not mistaken for one of these workers.
    Heartbeat(heartbeat_path(str(tmp_path), "probe_other", "0")).beat()
    with pytest.raises(RuntimeError, match="worker not running"):
        is_ready()
