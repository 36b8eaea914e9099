"""Advice without referring, the use case and its store (the routes are services/referral/advice.py).

A school's question and a clinician's answer are free text: both are encrypted here
(``FieldCipher``) and never travel on the bus; the events carry ids and codes. Races are
decided by unique inserts (docs/adr/0003): the answer is ``advice_answers._id = <advice id>``
(the first clinician wins). The ``state`` on the question is a read model for the worklist,
set after the answer's insert; a crash in between leaves the question listed as open while
it shows its answer (the next answer attempt is refused, 409).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.referral import events
from services.referral.crypto import FieldCipher
from shared.outbox import Outbox
from shared.store import Index

ADVICE, ANSWERS = "advice", "advice_answers"
OPEN, ANSWERED = "open", "answered"
ANY_HOSPITAL = "any"
INDEXES = {
    ADVICE: [
        # clinicians' worklist: equality on hospital and state, oldest first
        Index(
            [("hospital_id", ASCENDING), ("state", ASCENDING), ("asked_at", ASCENDING)], name="hospital_open"
        ),
    ]
}
LIST_LIMIT = 100


class AlreadyAnswered(Exception):
    """The question has an answer already (the first stands)."""


class AdviceBook:
    def __init__(
        self, db: Database, cipher: FieldCipher, outbox: Outbox, clock: Callable[[], datetime]
    ) -> None:
        self.questions = db[ADVICE]
        self.answers = db[ANSWERS]
        self.schools = db.schools
        self.cipher, self.outbox, self.clock = cipher, outbox, clock

    def ask(
        self, school_id: str, question: str, age_band: str, concerns: list[str], hospital: str | None
    ) -> dict:
        doc = {
            "_id": "adv-" + secrets.token_hex(10),
            "school_id": school_id,
            "hospital_id": hospital or ANY_HOSPITAL,
            "state": OPEN,
            "age_band": age_band,
            "concerns": concerns,
            "question": self.cipher.encrypt(question),
            "asked_at": self.clock(),
        }
        data = {"advice_id": doc["_id"], "school_id": school_id, "hospital_id": hospital}
        data |= {"age_band": age_band, "concerns": concerns}
        self.outbox.insert_one(self.questions, doc, [events.make("advice.requested", doc["_id"], data)])
        return self.view(doc)

    def get(self, advice_id: str) -> dict[str, Any] | None:
        return self.questions.find_one({"_id": advice_id})

    def open_for(self, hospital: str) -> list[dict[str, Any]]:
        """Open questions for a hospital, oldest first (index hospital_open), without their text."""
        found = self.questions.find({"hospital_id": hospital, "state": OPEN}, {"question": 0, "outbox": 0})
        items = list(found.sort("asked_at", ASCENDING).limit(LIST_LIMIT))
        return [{**d, "asked_at": d["asked_at"].isoformat()} for d in items]

    def answer(self, doc: Mapping[str, Any], text: str, by: str) -> dict[str, Any]:
        now = self.clock()
        record = {"_id": doc["_id"], "answer": self.cipher.encrypt(text), "by": by, "at": now}
        data = {"advice_id": doc["_id"], "school_id": doc["school_id"], "answered_at": now.isoformat()}
        try:
            self.outbox.insert_one(self.answers, record, [events.make("advice.answered", doc["_id"], data)])
        except DuplicateKeyError:
            raise AlreadyAnswered(doc["_id"]) from None
        self.questions.update_one({"_id": doc["_id"]}, {"$set": {"state": ANSWERED}})  # the list's read model
        return self.view({**doc, "state": ANSWERED})

    def converted(self, doc: Mapping[str, Any], case_id: str) -> None:
        """Record the referral the advice became (the same value on a retry)."""
        if doc.get("referral_case_id") != case_id:
            self.questions.update_one({"_id": doc["_id"]}, {"$set": {"referral_case_id": case_id}})

    def view(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        shown = {
            "advice_id": doc["_id"],
            "state": doc["state"],
            "age_band": doc["age_band"],
            "concerns": doc.get("concerns", []),
            "hospital_id": None if doc["hospital_id"] == ANY_HOSPITAL else doc["hospital_id"],
            "asked_at": doc["asked_at"].isoformat(),
            "question": self.cipher.decrypt(doc["question"]),
            "referral_case_id": doc.get("referral_case_id"),
        }
        found = self.answers.find_one({"_id": doc["_id"]})
        if found is not None:
            shown["answer"] = self.cipher.decrypt(found["answer"])
            shown["answered_at"] = found["at"].isoformat()
        return shown

    def contacts(self, advice_id: str) -> dict[str, Any] | None:
        """What notification needs for the ``advice.answered`` webhook: the school's webhook only."""
        doc = self.questions.find_one({"_id": advice_id}, {"school_id": 1})
        if doc is None:
            return None
        webhook = (self.schools.find_one({"_id": doc["school_id"]}) or {}).get("webhook") or {}
        return {
            "case_id": advice_id,
            "status": "advice",
            "language": None,
            "guardians": [],
            "school": {
                "school_id": doc["school_id"],
                "webhook_url": webhook.get("url"),
                "webhook_secret": self.cipher.decrypt(webhook["secret"]) if webhook else None,
            },
        }
