"""The inbox claims a batch's events up front and completes the batch after: never a mark before an effect."""

from __future__ import annotations

from shared.inbox import Inbox


def test_a_completed_batch_makes_its_events_seen(db):
    inbox = Inbox(db)
    first = inbox.begin(["a", "b"])
    assert first.seen == set()
    first.complete()
    again = inbox.begin(["a", "b", "c"])
    assert again.seen == {"a", "b"}
    assert inbox.handled("a") and not inbox.handled("c")


def test_claims_of_a_batch_that_never_completed_are_handled_again(db):
    inbox = Inbox(db)
    inbox.begin(["a"])  # the process died here, before its effects were done
    retry = inbox.begin(["a"])
    assert retry.seen == set()  # handled again: the claim now belongs to the retry
    retry.complete()
    assert inbox.handled("a")


def test_a_released_claim_is_not_handled_even_when_its_batch_completes(db):
    inbox = Inbox(db)
    batch = inbox.begin(["poison", "good"])
    batch.release(["poison"])  # dead-lettered
    batch.complete()
    assert inbox.handled("good") and not inbox.handled("poison")
    assert inbox.begin(["poison"]).seen == set()  # a replay from the dead-letter topic is handled
