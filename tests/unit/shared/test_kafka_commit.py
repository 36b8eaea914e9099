"""KafkaSource turns every way a commit can fail into CommitFailed (the loop's one contract)."""

from __future__ import annotations

import pytest
from kafka.errors import CommitFailedError, CoordinatorNotAvailableError, KafkaTimeoutError, NodeNotReadyError

from shared.kafka import KafkaSource
from shared.messaging import CommitFailed, Record


class RaisingConsumer:
    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.calls = 0

    def commit(self, offsets):
        self.calls += 1
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        CommitFailedError("the group has rebalanced"),
        KafkaTimeoutError("Failed to commit offsets in 30000ms"),
        NodeNotReadyError("coordinator"),
        CoordinatorNotAvailableError(),
        TimeoutError("timed out"),
        ConnectionResetError("reset by peer"),
    ],
    ids=type,
)
def test_every_commit_error_becomes_commit_failed(error):
    source = KafkaSource.__new__(KafkaSource)  # no broker: only commit() is exercised
    source._consumer = RaisingConsumer(error)
    with pytest.raises(CommitFailed):
        source.commit([Record("t", 0, 7, None, b"{}")])
    assert source._consumer.calls == 1


def test_nothing_to_commit_makes_no_call():
    source = KafkaSource.__new__(KafkaSource)
    source._consumer = RaisingConsumer(KafkaTimeoutError())
    source.commit([])
    assert source._consumer.calls == 0
