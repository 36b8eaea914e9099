from __future__ import annotations

from shared.memory_bus import MemoryBus


def test_uncommitted_records_are_redelivered_to_the_next_source_of_the_group(bus: MemoryBus):
    bus.send_many("t", [(b"k", b"1", []), (b"k", b"2", [])])
    first = bus.source("g", ["t"])
    records = first.poll(0.01)
    assert [r.value for r in records] == [b"1", b"2"]
    first.commit(records[:1])
    first.close()

    second = bus.source("g", ["t"])
    assert [r.value for r in second.poll(0.01)] == [b"2"]


def test_groups_are_independent_and_lag_counts_uncommitted(bus: MemoryBus):
    bus.send("t", None, b"x", [])
    a, b = bus.source("a", ["t"]), bus.source("b", ["t"])
    a.commit(a.poll(0.01)[:1])
    assert a.lag() == {("t", 0): 0}
    assert b.lag() == {("t", 0): 1}
