"""Where the benchmarks find Kafka and FerretDB, and the processes they start and stop themselves.

Ports and paths come from the same environment the stack uses (KAFKA_PORT, FERRETDB_PORT,
WAYMARK_RUN, <SERVICE>_PORT), so a benchmark runs beside other engineers' stacks when
each exports their own block. Servers a benchmark starts for itself (the service under
test, the bare baseline app) listen on ``BENCH_PORT`` and the ports above it (default 8090).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from pymongo import MongoClient

from shared import kafka
from shared.settings import Settings

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
READY_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class Infra:
    bootstrap: str
    mongo_uri: str

    def mongo(self) -> MongoClient:
        return MongoClient(self.mongo_uri, serverSelectionTimeoutMS=5000, tz_aware=True)

    def env(self) -> dict[str, str]:
        """What a process started by a benchmark needs to find the same Kafka and store."""
        return {"KAFKA_BOOTSTRAP": self.bootstrap, "MONGO_URI": self.mongo_uri, "WAYMARK_MODE": "kafka"}


def infra_or_skip(name: str) -> Infra | None:
    """Kafka and the store if both answer; otherwise say why the benchmark is skipped."""
    settings = Settings.from_env("bench")
    try:
        kafka.ping(settings.kafka_bootstrap)
        client: MongoClient = MongoClient(settings.mongo_uri, serverSelectionTimeoutMS=2000)
        try:
            client.admin.command("ping")
        finally:
            client.close()
    except Exception as exc:  # any failure means "not running here"
        print(f"(bench.{name} skipped: {exc}; start Kafka + FerretDB with deploy/infra.sh start)")
        return None
    return Infra(settings.kafka_bootstrap, settings.mongo_uri)


def create_topics(bootstrap: str, names: Sequence[str], timeout_s: float = 60.0) -> None:
    """Create topics and wait until the broker's metadata lists them.

    A consumer that subscribes before then is assigned nothing until its next metadata
    refresh (minutes), which would stall a benchmark's warm-up.
    """
    kafka.ensure_topics(bootstrap, names)
    probe = KafkaConsumer(bootstrap_servers=bootstrap.split(","), client_id="bench-topics")
    try:
        deadline = time.monotonic() + timeout_s
        while not set(names) <= probe.topics():
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"topics {sorted(set(names) - probe.topics())} not visible after {timeout_s:.0f} s"
                )
            time.sleep(0.2)
    finally:
        probe.close()


def partitions(consumer: KafkaConsumer, topic: str, timeout_s: float = 30.0) -> list[TopicPartition]:
    """Every partition of ``topic``, once this client's metadata knows it."""
    deadline = time.monotonic() + timeout_s
    while not (found := consumer.partitions_for_topic(topic)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no partitions for {topic} after {timeout_s:.0f} s")
        consumer.topics()  # refreshes the metadata
        time.sleep(0.2)
    return [TopicPartition(topic, p) for p in sorted(found)]


def bench_port(offset: int = 0) -> int:
    return int(os.environ.get("BENCH_PORT", "8090")) + offset


def run_dir() -> Path:
    path = Path(os.environ.get("WAYMARK_RUN", REPO / ".run")) / "bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def wait_ready(url: str, timeout_s: float = READY_TIMEOUT_S, alive: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        if alive is not None and alive.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with code {alive.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} not ready after {timeout_s:.0f} s")
        time.sleep(0.3)


@contextmanager
def gunicorn(name: str, target: str, port: int, env: Mapping[str, str]) -> Iterator[str]:
    """Serve ``target`` under shared/gunicorn_conf.py (the stack's config) on ``port``; yields its URL.

    The server runs in its own session so it and its workers are stopped together, by
    the process group this function created, and only that.
    """
    if not port_free(port):
        raise RuntimeError(f"port {port} is taken; set BENCH_PORT to a free block of ports")
    log = run_dir() / f"{name}.log"
    full_env = {**os.environ, **env, "GUNICORN_BIND": f"127.0.0.1:{port}"}
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                str(VENV_BIN / "gunicorn"),
                "-c",
                "python:shared.gunicorn_conf",
                "--name",
                f"waymark-{name}",
                target,
            ],
            cwd=REPO,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{url}/readyz", alive=proc)
        yield url
    except BaseException:
        print(f"(server log: {log})", flush=True)
        raise
    finally:
        _stop_group(proc)


def _stop_group(proc: subprocess.Popen, timeout_s: float = 20.0) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
