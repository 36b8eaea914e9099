"""Questionnaires by secret link: the guardian's (sent at intake booking) and the young person's own.

Two audiences, never mixed (HZ-04):

- **guardian**: when an intake appointment is booked (``appointment.booked``, kind
  ``intake``) the case gets ONE guardian invitation for that booking, carrying only the
  instruments that have a **parent form**, that the network may show (free or licensed)
  and whose parent form is validated for the child's age. No item marked ``confidential``
  (PHQ-A items 9, 12, 13; the ASQ) can ever be on it: :func:`page_view` refuses. The
  invitation and its ``assessment.questionnaire_requested`` event are one insert keyed by
  the booking (docs/adr/0003); notification asks ``GET /v1/questionnaires/<id>/link`` at
  send time and mails the guardian ``/q/<token>``.
- **young person**: the self-report instruments (PHQ-A, GAD-7), only when the child is
  certainly inside each one's validated age range. A clinician creates it
  (``POST /v1/cases/<id>/questionnaires``) and hands the link over to the young person in
  person (tablet in clinic, QR code, the young person's own phone); it publishes no
  event, so no message about it reaches the guardian's channel, and the notification
  service's link route does not know it.

The informant recorded is who answered: ``parent`` on the guardian's link, ``child`` on the
young person's. Answers go through :meth:`Measurement.record`, the clinician route's own
path, so a risk answer escalates exactly as it does there, and the answer carries the
region's crisis resources (the page also shows them the moment a risk answer is chosen).
The ASQ is never sent by link: its own instructions say to ask the young person directly,
so it stays a clinician-administered screen. A submission is claimed by a unique insert
keyed by the invitation: a double submit records once.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.assessment import events as ev
from services.assessment import intake
from services.assessment.casework import WITHDRAWN, Clock, iso
from services.assessment.crisis import CrisisResources
from services.assessment.domain import eligibility
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
GUARDIAN, YOUNG_PERSON = "guardian", "young_person"
INFORMANT = {GUARDIAN: "parent", YOUNG_PERSON: "child"}
"""Who answers each link, recorded as the administration's informant."""
ORDER = ("phq-a", "gad-7", "sdq", "rcads-47", "sras-r")
"""The order pages show instruments in; the ASQ is never on a link (asked in clinic)."""
LANGUAGES = ("en", "zh-CN")
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


class NothingToAsk(LookupError):
    """No instrument fits this child and audience (age range, licence, form)."""


class ConsentRequired(PermissionError):
    """No guardian consented to questionnaires (scope ``questionnaires``, HZ-13)."""


QUESTIONNAIRES_SCOPE = "questionnaires"


def consented(case: Mapping[str, Any]) -> bool:
    """A guardian consented to questionnaires; events from before consent was published count as no."""
    return QUESTIONNAIRES_SCOPE in (case["referral"].get("consent_scopes") or ())


class ConfidentialItemOnGuardianPage(RuntimeError):
    """A guardian invitation names an instrument with young-person-only items: never rendered."""


def invitation_id_for(case_id: str, appointment_id: str) -> str:
    """Derived from the booking, so every delivery of one ``appointment.booked`` names one invitation."""
    return "qi_" + hashlib.sha256(f"{case_id}|{appointment_id}".encode()).hexdigest()[:24]


def language_of(tag: str | None) -> str:
    """``zh-CN`` for any Chinese tag, else ``en``: the two languages the pages and messages speak."""
    return "zh-CN" if (tag or "").lower().startswith("zh") else "en"


def risk_values(instrument: Instrument, item_id: str) -> list[int]:
    """Answers to this item that escalate (so the page shows crisis resources the moment one is chosen)."""
    item = instrument.item(item_id)
    if item is None:
        return []
    values: set[int] = set()
    for rule in instrument.flags:
        if not rule.escalate or item_id not in rule.items:
            continue
        if rule.unanswered:
            declined = instrument.declined_code(item_id)
            values |= {declined} if declined is not None else set()
        elif rule.gte is not None and rule.scale is None:
            values |= {v for v in instrument.scales[item.scale] if v >= rule.gte} - {
                instrument.declined_code(item_id)
            }
        else:
            values |= set(rule.values)
    return sorted(values)


def page_view(instrument: Instrument, addressed_to: str, language: str) -> dict[str, Any]:
    """What a page shows of one instrument: its text (translated when we have it), options, risk answers.

    Never its scoring. A guardian's page never shows a confidential item (HZ-04).
    """
    if addressed_to == GUARDIAN and (
        instrument.confidential_items() or INFORMANT[GUARDIAN] not in instrument.informants
    ):
        raise ConfidentialItemOnGuardianPage(instrument.id)
    text = instrument.translations.get(language, {})
    items, scales = text.get("items", {}), text.get("scales", {})
    return {
        "id": instrument.id,
        "name": text.get("name", instrument.name),
        "stem": text.get("stem", instrument.stem),
        "items": [
            {
                "id": item.id,
                "text": items.get(item.id, item.text),
                "required": item.required,
                "options": [
                    {"value": value, "label": scales.get(item.scale, {}).get(str(value), label)}
                    for value, label in instrument.scales[item.scale].items()
                ],
                "risk_values": risk_values(instrument, item.id),
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
    crisis: CrisisResources = field(default_factory=CrisisResources.load)
    new_token: Callable[[], str] = field(default=lambda: secrets.token_urlsafe(32))

    @property
    def invitations(self) -> Any:
        return self.db[INVITATIONS]

    def chosen_for(self, case: Mapping[str, Any], addressed_to: str, on: date) -> list[str]:
        """The instruments this audience may answer for this child, in page order.

        Each needs a form for the informant, a licence when it is not free, the child
        certainly inside that form's validated age range, and, for a guardian, no
        young-person-only (confidential) item.
        """
        informant = INFORMANT[addressed_to]
        chosen = []
        for instrument_id in ORDER:
            instrument = self.instruments.get(instrument_id)
            if instrument is None or informant not in instrument.informants:
                continue
            if instrument.requires_licence and instrument_id not in self.measurement.licensed:
                continue
            if addressed_to == GUARDIAN and instrument.confidential_items():
                continue
            if eligibility.certainly_fits(instrument, informant, case["referral"], on):
                chosen.append(instrument_id)
        return chosen

    def booked(self, event: Event) -> None:
        """``appointment.booked``: invite the guardians once per intake booking (parent forms only)."""
        data = intake.Booked().load(dict(event.data))
        if data["kind"] != INTAKE:
            return
        case_id, appointment_id = data["case_id"], data["appointment_id"]
        case = self.repo.get(case_id, {"status": 1, "referral": 1, "triage": 1})
        if case is None:
            raise UnknownCase(case_id)
        if case["status"] == WITHDRAWN:
            return
        if not consented(case):
            log.info("no questionnaire for case %s: no guardian consented to questionnaires", case_id)
            return
        chosen = self.chosen_for(case, GUARDIAN, data["start"].date())
        if not chosen:
            log.info("no guardian questionnaire fits case %s (age, licence, parent form)", case_id)
            return
        invitation_id = invitation_id_for(case_id, appointment_id)
        due_by = iso(data["start"])
        record = self._record(invitation_id, case, GUARDIAN, chosen, due_by)
        record |= {
            "appointment_id": appointment_id,
            "hospital_id": data["hospital_id"],
            "event": event.dedupe_key,
        }
        requested = ev.questionnaire_requested(case_id, invitation_id, chosen, due_by)
        with contextlib.suppress(DuplicateKeyError):  # a redelivery: the invitation (and its event) exist
            self.outbox.insert_one(self.invitations, record, [requested])

    def for_young_person(self, case_id: str, by: str, due_by: datetime | None = None) -> dict[str, Any]:
        """A private link for the young person, for the clinician to hand over; no event, no message."""
        case = self.repo.get(case_id, {"status": 1, "referral": 1})
        if case is None:
            raise UnknownCase(case_id)
        if case["status"] == WITHDRAWN:
            raise InvitationClosed(case_id)
        if not consented(case):
            raise ConsentRequired(case_id)
        now = self.clock()
        chosen = self.chosen_for(case, YOUNG_PERSON, now.date())
        if not chosen:
            raise NothingToAsk(case_id)
        due = iso(due_by or now + timedelta(days=7))
        invitation_id = "qy_" + secrets.token_hex(12)
        record = self._record(invitation_id, case, YOUNG_PERSON, chosen, due) | {"created_by": by}
        self.invitations.insert_one(record)
        return {
            "invitation_id": invitation_id,
            "case_id": case_id,
            "addressed_to": YOUNG_PERSON,
            "instruments": chosen,
            "due_by": due,
            "url": self._url(record["token"]),
        }

    def _record(
        self, invitation_id: str, case: Mapping[str, Any], addressed_to: str, chosen: list[str], due_by: str
    ) -> dict[str, Any]:
        referral = case["referral"]
        return {
            "_id": invitation_id,
            "case_id": case["_id"],
            "addressed_to": addressed_to,
            "instruments": chosen,
            "due_by": due_by,
            "language": language_of((referral.get("preferences") or {}).get("language")),
            "district": referral.get("district"),
            "token": self.new_token(),
            "state": OPEN,
            "created_at": self.clock(),
        }

    def link(self, invitation_id: str) -> str:
        """The guardian's page for this invitation (carries the secret token; never stored elsewhere).

        Only guardian invitations: a young person's link is never handed to the messaging
        service, whatever asks for it.
        """
        invitation = self.invitations.find_one(
            {"_id": invitation_id}, {"token": 1, "state": 1, "case_id": 1, "addressed_to": 1}
        )
        if invitation is None or invitation.get("addressed_to", GUARDIAN) != GUARDIAN:
            raise UnknownInvitation(invitation_id)
        self._check_open(invitation)
        return self._url(invitation["token"])

    def _url(self, token: str) -> str:
        return f"{self.public_base_url.rstrip('/')}/q/{token}"

    def view(self, token: str, language: str | None = None) -> dict[str, Any]:
        """What the page needs: the invited instruments in the page's language, and the crisis resources."""
        invitation = self._by_token(token)
        addressed_to = invitation.get("addressed_to", GUARDIAN)
        lang = language_of(language) if language else invitation.get("language", "en")
        return {
            "state": invitation["state"],
            "due_by": invitation["due_by"],
            "addressed_to": addressed_to,
            "language": lang,
            "instruments": [
                page_view(self.instruments[i], addressed_to, lang) for i in invitation["instruments"]
            ],
            "crisis": self.crisis.for_case(invitation.get("district"), lang),
        }

    def submit(
        self, token: str, answers: Mapping[str, Mapping[str, int]], language: str | None = None
    ) -> dict[str, Any]:
        """Score every invited instrument through the clinician route's path; once per invitation."""
        invitation = self._by_token(token)
        if invitation["state"] == SUBMITTED:
            raise AlreadySubmitted(invitation["_id"])
        addressed_to = invitation.get("addressed_to", GUARDIAN)
        informant = INFORMANT[addressed_to]
        invited: Sequence[str] = invitation["instruments"]
        errors = self._errors(invited, answers, informant)
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
        recorded: list[Mapping[str, Any]] = []
        try:
            for instrument_id in invited:
                administration = self.measurement.record(
                    invitation["case_id"],
                    self.instruments[instrument_id],
                    informant,
                    answers[instrument_id],
                    f"{addressed_to}:{invitation['_id']}",
                )
                recorded.append(administration)
        except Exception:
            if not recorded:  # nothing kept: release the claim so the answers can be sent again
                self.db[SUBMISSIONS].delete_one({"_id": invitation["_id"]})
            raise
        # Only the claimant writes this field, so the update has no competing writer.
        self.invitations.update_one(
            {"_id": invitation["_id"]}, {"$set": {"state": SUBMITTED, "submitted_at": self.clock()}}
        )
        answer: dict[str, Any] = {"state": SUBMITTED, "instruments": list(invited)}
        risk = [
            flag
            for a in recorded
            for flag in a["flags"]
            if flag in {r.code for r in self.instruments[a["instrument"]].flags if r.escalate}
        ]
        if risk:  # the clinic has been told (assessment.escalated); the young person sees help now
            lang = language_of(language) if language else invitation.get("language", "en")
            answer["crisis"] = self.crisis.for_case(invitation.get("district"), lang)
        return answer

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
        self, invited: Sequence[str], answers: Mapping[str, Mapping[str, int]], informant: str
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
            found = scoring.validate(instrument, answers[instrument_id], informant)
            for key, messages in found.items():
                errors[f"{instrument_id}.{key.removeprefix('responses.')}"] = messages
        return errors
