"""Questionnaires for guardians at intake: an invitation per booking, a secret link, scored answers.

When an intake appointment is booked (``appointment.booked``, kind ``intake``) the case
gets ONE invitation for that booking: the free self-report instruments (PHQ-A and GAD-7),
due by the appointment's
start, reachable through an unguessable token. The invitation and its
``assessment.questionnaire_requested`` event are one insert keyed by the booking, so a
redelivered event finds it taken and does nothing (docs/adr/0003). The token is never
on the bus: the notification service asks ``GET /v1/questionnaires/<id>/link`` at send
time, and the guardian opens ``/q/<token>``.

Answers go through :meth:`Measurement.record`, the clinician route's own path, so a
positive PHQ-A item 9 escalates exactly as it does there. The ASQ is never sent by link:
its own instructions say to ask the young person directly, without a parent present, so
it stays a clinician-administered screen (recorded through the clinician route). A submission is
claimed by a unique insert keyed by the invitation: a double submit records once.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.assessment import events as ev
from services.assessment import intake
from services.assessment.casework import WITHDRAWN, Clock, iso
from services.assessment.domain import instruments as scoring
from services.assessment.domain.instruments import Instrument
from services.assessment.measurement import InvalidResponses, Measurement
from services.assessment.repository import CaseRepository, UnknownCase
from shared.events import Event
from shared.outbox import Outbox
from shared.store import Index

log = logging.getLogger(__name__)

INVITATIONS, SUBMISSIONS = "questionnaires", "questionnaire_submissions"
OPEN, SUBMITTED = "open", "submitted"
INTAKE = "intake"
BY_LINK = ("phq-a", "gad-7")
INDEXES = {
    INVITATIONS: [
        Index([("token", ASCENDING)], unique=True, name="token"),
    ],
}


class UnknownInvitation(LookupError):
    """No invitation with this id or token."""


class InvitationClosed(RuntimeError):
    """The invitation can no longer be answered: it was answered, or the case was withdrawn."""


class AlreadySubmitted(RuntimeError):
    """The questionnaire was already submitted (answers are recorded once)."""


def invitation_id_for(case_id: str, appointment_id: str) -> str:
    """Derived from the booking, so every delivery of one ``appointment.booked`` names one invitation."""
    return "qi_" + hashlib.sha256(f"{case_id}|{appointment_id}".encode()).hexdigest()[:24]


def informant_for(instrument: Instrument) -> str:
    """The parent form when the instrument has one, else its self-report form (answered by the child)."""
    return "parent" if "parent" in instrument.informants else instrument.informants[0]


def guardian_view(instrument: Instrument) -> dict[str, Any]:
    """What the guardian's page shows of one instrument: its text and options, never its scoring."""
    return {
        "id": instrument.id,
        "name": instrument.name,
        "stem": instrument.stem,
        "items": [
            {
                "id": item.id,
                "text": item.text,
                "required": item.required,
                "options": [
                    {"value": value, "label": label} for value, label in instrument.scales[item.scale].items()
                ],
            }
            for item in instrument.items
        ],
    }


@dataclass
class Questionnaires:
    db: Database
    repo: CaseRepository
    measurement: Measurement
    instruments: Mapping[str, Instrument]
    clock: Clock
    public_base_url: str
    outbox: Outbox
    new_token: Callable[[], str] = field(default=lambda: secrets.token_urlsafe(32))

    @property
    def invitations(self) -> Any:
        return self.db[INVITATIONS]

    def chosen_for(self, case: Mapping[str, Any]) -> list[str]:
        """The free instruments that fit the child, in the order the page shows them."""
        del case  # the same self-report pair for every child; risk screens are asked in clinic
        return [i for i in BY_LINK if i in self.instruments and not self.instruments[i].requires_licence]

    def booked(self, event: Event) -> None:
        """``appointment.booked``: invite the guardians once per intake booking."""
        data = intake.Booked().load(dict(event.data))
        if data["kind"] != INTAKE:
            return
        case_id, appointment_id = data["case_id"], data["appointment_id"]
        case = self.repo.get(case_id, {"status": 1, "referral": 1, "triage": 1})
        if case is None:
            raise UnknownCase(case_id)
        chosen = self.chosen_for(case)
        if case["status"] == WITHDRAWN or not chosen:
            return
        invitation_id = invitation_id_for(case_id, appointment_id)
        due_by = iso(data["start"])
        record = {
            "_id": invitation_id,
            "case_id": case_id,
            "appointment_id": appointment_id,
            "hospital_id": data["hospital_id"],
            "instruments": chosen,
            "due_by": due_by,
            "token": self.new_token(),
            "state": OPEN,
            "created_at": self.clock(),
            "event": event.dedupe_key,
        }
        requested = ev.questionnaire_requested(case_id, invitation_id, chosen, due_by)
        with contextlib.suppress(DuplicateKeyError):  # a redelivery: the invitation (and its event) exist
            self.outbox.insert_one(self.invitations, record, [requested])

    def link(self, invitation_id: str) -> str:
        """The guardian's page for this invitation (carries the secret token; never stored elsewhere)."""
        invitation = self.invitations.find_one({"_id": invitation_id}, {"token": 1, "state": 1, "case_id": 1})
        if invitation is None:
            raise UnknownInvitation(invitation_id)
        self._check_open(invitation)
        return f"{self.public_base_url.rstrip('/')}/q/{invitation['token']}"

    def view(self, token: str) -> dict[str, Any]:
        """What the guardian's page needs: only the invited instruments, their items and options."""
        invitation = self._by_token(token)
        return {
            "state": invitation["state"],
            "due_by": invitation["due_by"],
            "instruments": [guardian_view(self.instruments[i]) for i in invitation["instruments"]],
        }

    def submit(self, token: str, answers: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
        """Score every invited instrument through the clinician route's path; once per invitation."""
        invitation = self._by_token(token)
        if invitation["state"] == SUBMITTED:
            raise AlreadySubmitted(invitation["_id"])
        invited: Sequence[str] = invitation["instruments"]
        errors = self._errors(invited, answers)
        if errors:
            raise InvalidResponses(errors)
        self._check_open(invitation)
        claim = {
            "_id": invitation["_id"],
            "case_id": invitation["case_id"],
            "at": self.clock(),
            "responses": {i: dict(answers[i]) for i in invited},
        }
        try:
            self.db[SUBMISSIONS].insert_one(claim)
        except DuplicateKeyError:
            raise AlreadySubmitted(invitation["_id"]) from None
        recorded: list[int] = []
        try:
            for instrument_id in invited:
                instrument = self.instruments[instrument_id]
                administration = self.measurement.record(
                    invitation["case_id"],
                    instrument,
                    informant_for(instrument),
                    answers[instrument_id],
                    f"guardian:{invitation['_id']}",
                )
                recorded.append(administration["n"])
        except Exception:
            if not recorded:  # nothing kept: release the claim so the guardian can try again
                self.db[SUBMISSIONS].delete_one({"_id": invitation["_id"]})
            raise
        # Only the claimant writes this field, so the update has no competing writer.
        self.invitations.update_one(
            {"_id": invitation["_id"]}, {"$set": {"state": SUBMITTED, "submitted_at": self.clock()}}
        )
        return {"state": SUBMITTED, "instruments": list(invited)}

    def _by_token(self, token: str) -> dict[str, Any]:
        found = self.invitations.find_one({"token": token}, {"outbox": 0})
        if found is None or not secrets.compare_digest(found["token"], token):
            raise UnknownInvitation("token")
        return found

    def _check_open(self, invitation: Mapping[str, Any]) -> None:
        if invitation["state"] == SUBMITTED:
            raise InvitationClosed(invitation["_id"])
        case = self.repo.get(invitation["case_id"], {"status": 1})
        if case is None or case["status"] == WITHDRAWN:
            raise InvitationClosed(invitation["_id"])

    def _errors(
        self, invited: Sequence[str], answers: Mapping[str, Mapping[str, int]]
    ) -> dict[str, list[str]]:
        """Field errors named ``<instrument>`` or ``<instrument>.<item>``; empty when everything fits."""
        errors: dict[str, list[str]] = {
            i: ["Not an instrument of this questionnaire."] for i in answers if i not in invited
        }
        for instrument_id in invited:
            if instrument_id not in answers:
                errors[instrument_id] = ["Missing answers for this questionnaire."]
                continue
            instrument = self.instruments[instrument_id]
            found = scoring.validate(instrument, answers[instrument_id], informant_for(instrument))
            for key, messages in found.items():
                errors[f"{instrument_id}.{key.removeprefix('responses.')}"] = messages
        return errors
