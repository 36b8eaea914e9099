"""A realistic demo region: hospitals, schools and synthetic referrals, entered through the front doors.

Everything goes in over the services' own HTTP APIs — scheduling's hospital and session
routes, referral's operator route for school keys, and the school API for every case —
so the same seeding works on the embedded platform and on the stack, and the demo's
waitlist is what triage and allocation really made of the referrals. The synthetic
children come from a fixed seed; no real person is described.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.client import ok
from services.scheduling.domain.geography import DISTRICT_CENTROIDS
from services.scheduling.seed import HOSPITALS, SESSIONS
from shared.auth import StaffTokens
from shared.staff.accounts import AccountExists
from shared.staff.signin import StaffAuth

SCHOOLS = [
    ("haidian-no1", "Haidian No. 1 Middle School", "haidian"),
    ("xicheng-exp", "Xicheng Experimental Primary", "xicheng"),
    ("chaoyang-fl", "Chaoyang Foreign Languages School", "chaoyang"),
    ("fengtai-no8", "Fengtai No. 8 Middle School", "fengtai"),
    ("tongzhou-bay", "Tongzhou Bay Primary", "tongzhou"),
    ("changping-hs", "Changping High School", "changping"),
    ("daxing-no3", "Daxing No. 3 Middle School", "daxing"),
    ("shunyi-int", "Shunyi International School", "shunyi"),
    ("dongcheng-pr", "Dongcheng Garden Primary", "dongcheng"),
    ("shijingshan-ms", "Shijingshan Middle School", "shijingshan"),
    ("fangshan-no2", "Fangshan No. 2 Middle School", "fangshan"),
    ("mentougou-js", "Mentougou Junior School", "mentougou"),
]
SURNAMES = ["Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu", "Xu", "Sun"]
GIVEN = ["Xiaoming", "Yutong", "Haoran", "Zihan", "Yichen", "Ruoxi", "Jiayi", "Zixuan", "Mingyu", "Siyu"]
CONCERNS = [
    "anxiety", "low_mood", "somatic_complaints", "separation_worries", "social_fears",
    "bullying", "learning_difficulty", "family_conflict", "sleep", "screen_use",
]  # fmt: skip
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
ONCALL = {
    "ASSESSMENT_ONCALL": '{"default": {"clinician": "demo-oncall", "second_line": "demo-second-line"}}',
    "NOTIFICATION_ONCALL": '{"default": {"email": "oncall@clinic.example"},'
    ' "demo-second-line": {"email": "second-line@clinic.example"}}',
}
"""The demo's network-wide on-call roster (used when the environment names none): escalations in
the demo have an owner and an address, as HZ-02 demands of a real roster."""


DEMO_STAFF = (
    ("demo-scheduler", "scheduler", "Demo Scheduler"),
    ("demo-clinician", "clinician", "Demo Clinician"),
    ("demo-operator", "operator", "Demo Operator"),
)
"""The demo's staff accounts: regional scope, so each sees the whole demo region."""


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    password: str


def staff_logins(auth: StaffAuth) -> list[DemoLogin]:
    """A scheduler, a clinician and an operator with fresh random passwords (re-running resets them)."""
    logins = []
    for username, role, name in DEMO_STAFF:
        password = secrets.token_urlsafe(12)
        try:
            auth.create_account(username, role, ["*"], password=password, name=name)
        except AccountExists:
            auth.accounts.set_password_hash(username, auth.passwords.hash(password))
            auth.enable(username)
        auth.lockout.clear(username)
        logins.append(DemoLogin(username, role, password))
    return logins


@dataclass(frozen=True)
class DemoSchool:
    school_id: str
    name: str
    key: str


def seed(
    urls: Mapping[str, str], staff_secret: str, referrals: int, rng_seed: int = 20261123
) -> list[DemoSchool]:
    """Seed a running platform at ``urls``; returns the schools with their (shown-once) keys."""
    schools = seed_region(urls, staff_secret)
    seed_referrals(urls, schools, referrals, rng_seed)
    return schools


def seed_region(urls: Mapping[str, str], staff_secret: str) -> list[DemoSchool]:
    """Hospitals, sessions and school keys: seconds of work, so `make run` can print its URLs and
    logins right after it and leave the referrals to the background."""
    tokens = StaffTokens(staff_secret)
    if "scheduling" in urls:
        seed_hospitals(urls["scheduling"], tokens.issue("demo-seed", "scheduler"))
    if "referral" not in urls:
        return []
    operator = tokens.issue("demo-seed", "operator")
    return [
        DemoSchool(school_id, name, ok("POST", f"{urls['referral']}/admin/v1/school-keys", operator,
                                       {"school_id": school_id, "name": name})["key"])
        for school_id, name, _district in SCHOOLS
    ]  # fmt: skip


def seed_referrals(
    urls: Mapping[str, str],
    schools: Sequence[DemoSchool],
    referrals: int,
    rng_seed: int = 20261123,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> None:
    """The synthetic referrals, round-robin over the schools; ``progress(done, total)`` after each.
    Idempotency keys make a re-run (or a retried request) add nothing twice."""
    if "referral" not in urls or not schools:
        return
    rng = random.Random(rng_seed)
    today = date.today()
    for n in range(referrals):
        school = schools[n % len(schools)]
        body = synthetic_referral(rng, today, SCHOOLS[n % len(SCHOOLS)][2], n)
        ok("POST", f"{urls['referral']}/v1/referrals", school.key, body, Idempotency_Key=f"demo-{n}")
        progress(n + 1, referrals)


def seed_hospitals(scheduling: str, scheduler: str) -> None:
    """The region's hospitals and weekly clinic sessions, then the slots over the horizon."""
    existing = {h["id"] for h in ok("GET", f"{scheduling}/v1/hospitals", scheduler)["items"]}
    for spec in HOSPITALS:
        hospital_id = spec["id"]
        body = {k: v for k, v in spec.items() if k != "id"}
        ok("PUT", f"{scheduling}/v1/hospitals/{hospital_id}", scheduler, body)
        if hospital_id in existing:
            continue  # sessions were added by an earlier seeding
        for weekday, start, end, kind in SESSIONS[hospital_id]:
            session = {"weekday": weekday, "start": start, "end": end, "kind": kind}
            ok("POST", f"{scheduling}/v1/hospitals/{hospital_id}/sessions", scheduler, session)
    ok("POST", f"{scheduling}/v1/slots/materialise", scheduler)


def synthetic_referral(rng: random.Random, today: date, district: str, n: int) -> dict[str, Any]:
    age = rng.randint(7, 17)
    birth = today - timedelta(days=age * 365 + rng.randint(0, 300))
    absence_days = rng.choice([5, 10, 15, 20, 30, 45, 60, 90, 120])
    missed = min(20, rng.randint(3, 20))
    risk = rng.random() < 0.05
    hospitals = [h["id"] for h in HOSPITALS]
    language = "en" if rng.random() < 0.1 else "zh-CN"
    surname = rng.choice(SURNAMES)
    return {
        "student": {
            "name": f"{surname} {rng.choice(GIVEN)} {n}",
            "date_of_birth": birth.isoformat(),
            "sex": rng.choice(["female", "male"]),
            "grade": max(1, min(12, age - 6)),
        },
        "guardians": [
            {
                "relationship": rng.choice(["mother", "father", "grandparent"]),
                "name": f"{surname} {rng.choice(GIVEN)}",
                "phone": f"+86138{rng.randint(10_000_000, 99_999_999)}",
                "email": f"guardian{n}@example.org",
                "language": language,
                "consent": {
                    "given_at": (datetime.now(UTC) - timedelta(days=2)).isoformat(),
                    "scope": ["referral", "share_with_hospitals", "contact_by_email", "contact_by_sms"],
                },
            }
        ],
        "absence": {
            "start": (today - timedelta(days=absence_days)).isoformat(),
            "days_missed_last_20": missed,
            "partial_days_last_20": rng.randint(0, 20 - missed),
        },
        "concerns": rng.sample(CONCERNS, rng.randint(1, 3)),
        "risk_indicators": {"self_harm": risk, "suicidal_talk": False, "not_eating": rng.random() < 0.05},
        "school_actions": {
            "tried": rng.sample(["reduced_timetable", "safe_space", "mentor", "counselling"], 2)
        },
        "return_attempts": [],
        "preferences": {
            "hospitals": rng.sample(hospitals, rng.randint(2, len(hospitals))),
            "max_travel_km": rng.choice([None, 20, 30, 50]),
            "home_district": district if district in DISTRICT_CENTROIDS else "haidian",
            "weekdays": rng.sample(WEEKDAYS, rng.randint(3, 5)),
            "language": language,
        },
    }
