"""Key rotation chores for the ``waymark`` CLI (procedure in docs/services/referral.md).

Data keys: deploy ``REFERRAL_DATA_KEYS=new,old`` (new first), then run
:func:`rotate_data_keys` to re-encrypt every sealed field under the new key, then drop the
old key. Blind-index key: deploy the new ``REFERRAL_INDEX_KEY`` and run
:func:`rebuild_child_index` at once (until it finishes, duplicates may go undetected).
"""

from __future__ import annotations

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, OperationFailure

from services.referral.crypto import FieldCipher
from services.referral.repository import Cases, released
from shared import topics
from shared.outbox import Outbox

SEALED = {"referral": 1, "linked_referrals": 1, "withdrawal": 1, "version": 1}
ATTEMPTS = 5


def rotate_data_keys(db: Database, cipher: FieldCipher) -> int:
    """Re-encrypt every sealed field under the current key; returns the documents rewritten.

    Each re-encryption is a version of the case like any change (services/referral/
    repository.py), so it can neither overwrite a concurrent change nor be overwritten by
    one (which would leave a field under the key about to be dropped); a lost version is
    re-read and re-encrypted.
    """
    cases = Cases(db, Outbox(db, "referral", topics.events("referral")))
    rewritten = 0
    for found in db.cases.find({}, {"_id": 1}):
        case = db.cases.find_one({"_id": found["_id"]}, SEALED)
        for _ in range(ATTEMPTS):
            if case is None or cases.update(case, {"$set": _resealed(case, cipher)}):
                break
            case = db.cases.find_one({"_id": found["_id"]}, SEALED)
        else:
            raise RuntimeError(f"case {found['_id']} kept changing; run the rotation again")
        rewritten += case is not None
    for school in db.schools.find({"webhook": {"$exists": True}}, {"webhook": 1}):
        old = school["webhook"]["secret"]
        rewritten += db.schools.update_one(  # not over a webhook the school replaced meanwhile
            {"_id": school["_id"], "webhook.secret": old}, {"$set": {"webhook.secret": cipher.rotate(old)}}
        ).modified_count
    return rewritten


def _resealed(case: dict, cipher: FieldCipher) -> dict:
    changes: dict = {"referral": cipher.reseal(case["referral"])}
    if case.get("linked_referrals"):
        changes["linked_referrals"] = [
            {**link, "referral": cipher.reseal(link["referral"])} for link in case["linked_referrals"]
        ]
    if (case.get("withdrawal") or {}).get("note"):
        changes["withdrawal.note"] = cipher.rotate(case["withdrawal"]["note"])
    return changes


def rebuild_child_index(db: Database, cipher: FieldCipher) -> int:
    """Recompute every case's blind index under the current index key; an open case holding
    its child (``child_slot`` = the old index) holds it under the new index."""
    moved = 0
    for case in db.cases.find({}, {"referral": 1, "child_index": 1, "child_slot": 1}):
        student = cipher.unseal(case["referral"])["student"]
        index = cipher.child_index(student["name"], student["date_of_birth"])
        if index == case["child_index"]:
            continue
        changes = {"child_index": index}
        if case.get("child_slot") == case["child_index"]:  # closed and linked cases hold no claim
            changes["child_slot"] = index
        try:
            db.cases.update_one({"_id": case["_id"]}, {"$set": changes})
        except (DuplicateKeyError, OperationFailure):  # another open case of the child holds it
            db.cases.update_one(
                {"_id": case["_id"]}, {"$set": {"child_index": index, "child_slot": released(case["_id"])}}
            )
        moved += 1
    return moved
