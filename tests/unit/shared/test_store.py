from __future__ import annotations

import mongomock
from pymongo.errors import DuplicateKeyError

from shared import store


class FirstUpsertLoses:
    """What FerretDB answers the second of two processes upserting a new ``_id`` at once."""

    def __init__(self, collection) -> None:
        self.collection, self.calls = collection, []

    def update_one(self, query, update, upsert=False):
        self.calls.append(upsert)
        if upsert:
            self.collection.insert_one({"_id": query["_id"]})  # the other process's upsert landed
            raise DuplicateKeyError("E11000 duplicate key error")
        return self.collection.update_one(query, update)


def test_an_upsert_that_loses_the_first_time_race_updates_the_document_that_won():
    meta = mongomock.MongoClient()["db"]["meta"]
    racing = FirstUpsertLoses(meta)
    store.upsert(racing, "marker", {"$set": {"at": 1}})
    assert racing.calls == [True, False]
    assert meta.find_one({"_id": "marker"}) == {"_id": "marker", "at": 1}


def test_an_upsert_with_no_race_is_one_call():
    meta = mongomock.MongoClient()["db"]["meta"]
    store.upsert(meta, "marker", {"$set": {"at": 1}})
    store.upsert(meta, "marker", {"$set": {"at": 2}})
    assert meta.find_one({"_id": "marker"}) == {"_id": "marker", "at": 2}
