"""kafka-python adapters for :mod:`shared.messaging`, plus a cheap broker probe for /readyz."""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import time
from collections.abc import Sequence

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata

from shared.events import Headers
from shared.messaging import CommitFailed, Record, last_per_partition

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 45.0


class KafkaPublisher:
    """Waits for all in-sync replicas (acks=all); idempotent so retries never duplicate or reorder."""

    def __init__(self, bootstrap: str, client_id: str) -> None:
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap.split(","),
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            retries=2**31 - 1,
            request_timeout_ms=15_000,
            delivery_timeout_ms=int(SEND_TIMEOUT_S * 1000),
            max_block_ms=10_000,
        )

    def send(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers) -> None:
        self.send_many(topic, [(key, value, headers)])

    def send_many(self, topic: str, records: Sequence[tuple[bytes | None, bytes | None, Headers]]) -> None:
        futures = [
            self._producer.send(topic, key=key, value=value, headers=list(headers))
            for key, value, headers in records
        ]
        self._producer.flush(timeout=SEND_TIMEOUT_S)
        for future in futures:
            future.get(timeout=SEND_TIMEOUT_S)  # raises the broker's error, if any

    def close(self) -> None:
        self._producer.close(timeout=5)


class KafkaSource:
    """A consumer group member that commits only what the loop says it has handled."""

    def __init__(
        self,
        bootstrap: str,
        group: str,
        topics: Sequence[str],
        client_id: str,
        *,
        assignors: Sequence[type] = (RangePartitionAssignor,),
        max_poll_records: int = 100,
    ) -> None:
        self._consumer = KafkaConsumer(
            *topics,
            bootstrap_servers=bootstrap.split(","),
            group_id=group,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # A batch of 100 must finish within max_poll_interval_ms or the group moves the
            # partitions away (its commit then fails and the batch is redelivered): 10 minutes
            # leaves room for a slow store and for the loop's retries of a store outage.
            max_poll_records=max_poll_records,
            max_poll_interval_ms=600_000,
            # Eager range assignment: measured against kafka-python's cooperative sticky assignor
            # (`python -m bench rebalance`), a joining member waited 3.1 s instead of 6.2 s and the
            # busy member did not pause (0.04 s vs 2.1 s). A rebalance waits for each member's next
            # poll: at most one heartbeat interval plus one polled batch.
            partition_assignment_strategy=tuple(assignors),
            session_timeout_ms=10_000,
            heartbeat_interval_ms=3_000,
        )

    def poll(self, timeout_s: float) -> list[Record]:
        batches = self._consumer.poll(timeout_ms=int(timeout_s * 1000))
        return [
            Record(m.topic, m.partition, m.offset, m.key, m.value, list(m.headers or []))
            for messages in batches.values()
            for m in messages
        ]

    def commit(self, records: Sequence[Record]) -> None:
        offsets = {
            TopicPartition(topic, partition): OffsetAndMetadata(record.offset + 1, "", -1)
            for (topic, partition), record in last_per_partition(records).items()
        }
        if not offsets:
            return
        try:
            self._consumer.commit(offsets)
        except (KafkaError, OSError, TimeoutError, AssertionError) as exc:
            # CommitFailedError after a rebalance, KafkaTimeoutError when the broker is away,
            # a lost coordinator, a dropped connection, or the client's internal assertions on a
            # connection torn down mid-request: in every case the offsets were not stored.
            raise CommitFailed(repr(exc)) from exc

    def lag(self) -> dict[tuple[str, int], int]:
        lags: dict[tuple[str, int], int] = {}
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            if high is None:
                continue
            committed = self._consumer.committed(tp) or 0
            lags[(tp.topic, tp.partition)] = max(0, high - committed)
        return lags

    def close(self) -> None:
        self._consumer.close(autocommit=False)


def ensure_topics(
    bootstrap: str, topics: Sequence[str], partitions: int = 3, timeout_s: float = 30.0
) -> None:
    """Create topics up front, and wait until every partition has a leader.

    A group member that joins before its topic's metadata is out is assigned nothing and
    does not ask again until its metadata expires (five minutes): the wait closes that race.
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), client_id="waymark-admin")
    try:
        existing = set(admin.list_topics())
        # -1: the broker's default.replication.factor (1 on the dev broker, 3 on deploy/kafka-cluster.sh)
        wanted = [NewTopic(t, partitions, -1) for t in topics if t not in existing]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(wanted)
        deadline = time.monotonic() + timeout_s
        while not _all_led(admin, topics):
            if time.monotonic() > deadline:
                raise KafkaTimeoutError(f"topics without partition leaders after {timeout_s:.0f} s: {topics}")
            time.sleep(0.1)
    finally:
        admin.close()


def _all_led(admin: KafkaAdminClient, topics: Sequence[str]) -> bool:
    try:
        described = admin.describe_topics(list(topics))
    except KafkaError:
        return False
    return all(
        t.get("error_code", 0) == 0
        and t.get("partitions")
        and all(p.get("leader_id", -1) >= 0 for p in t["partitions"])
        for t in described
    )


def ping(bootstrap: str, timeout_s: float = 2.0) -> None:
    """One ApiVersions round trip to the first reachable bootstrap server; raises if none answers.

    Hand-rolled (a dozen bytes) so /readyz costs one short TCP exchange and keeps no
    client state that could itself go stale while the broker is away.
    """
    errors = []
    for server in bootstrap.split(","):
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
                client_id = b"waymark-ready"
                body = struct.pack(">hhih", 18, 0, 1, len(client_id)) + client_id
                sock.sendall(struct.pack(">i", len(body)) + body)
                header = _read_exact(sock, 10)
                _, correlation, error_code = struct.unpack(">iih", header)
                if correlation != 1 or error_code != 0:
                    raise ConnectionError(f"ApiVersions error {error_code}")
                return
        except OSError as exc:
            errors.append(f"{server}: {exc}")
    raise ConnectionError("; ".join(errors) or "no bootstrap servers")


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        data += chunk
    return data
