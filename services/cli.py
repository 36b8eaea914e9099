"""The ``waymark`` command: run the platform and do the operators' chores.

    waymark run                          all services in one process (embedded default)
    waymark demo                         the same, with a demo region and referrals seeded
    waymark seed                         seed a running platform (embedded or stack) over its APIs
    waymark school-key create SCHOOL_ID NAME | list [SCHOOL_ID] | revoke KEY_ID
    waymark staff-token issue SUBJECT ROLE [--hospital H ...] [--hours N] | revoke TOKEN_OR_ID
    waymark staff create USERNAME ROLE [--hospital H ...] [--name N] [--password-stdin | --sso-only | --sso-subject SUB]
    waymark staff list [--hospital H] [--after USERNAME] | disable USERNAME | enable USERNAME | unlock USERNAME
    waymark dlq list GROUP | replay GROUP   dead letters of a consumer group (Kafka)
    waymark docs                         regenerate docs/asyncapi.json and docs/openapi/*.json

School keys are issued by the referral service itself (its operator routes), so the
command works against whichever referral is running: ``--referral-url`` or the
configured REFERRAL_PORT on this host. Staff tokens are signed here with
WAYMARK_STAFF_TOKEN_SECRET (whoever runs it holds the install's secrets) and revoked
through the console's operator route (``--console-url`` or CONSOLE_PORT on this host).
Staff accounts (people who sign in on the pages) live in the shared auth database, which
``waymark staff`` writes directly (WAYMARK_MODE=kafka, MONGO_URI/FERRETDB_PORT, WAYMARK_AUTH_DB).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from services.client import call
from shared import topics
from shared.auth import STAFF_ROLES, StaffTokens
from shared.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in ("run", "demo"):
        from services.platform import run_forever

        run_forever(seed=args.command == "demo", referrals=getattr(args, "referrals", 0))
        return 0
    if args.command == "school-key":
        return _school_key(args)
    if args.command == "staff-token":
        return _staff_token(args)
    if args.command == "staff":
        from services import staff_cli

        return staff_cli.run(args)
    if args.command == "seed":
        return _seed(args.referrals)
    if args.command == "docs":
        from services import catalogue

        for path in catalogue.write():
            print(f"wrote {path}")
        return 0
    return _dlq(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="waymark", description="Waymark platform command line.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run every service in one process on the embedded default")
    demo = commands.add_parser("demo", help="run embedded with a demo region, schools and referrals")
    demo.add_argument("--referrals", type=int, default=300, help="synthetic referrals to submit")

    commands.add_parser("docs", help="regenerate the AsyncAPI and OpenAPI documents in docs/")
    seeding = commands.add_parser("seed", help="seed a running platform with the demo region over its APIs")
    seeding.add_argument("--referrals", type=int, default=300, help="synthetic referrals to submit")
    keys = commands.add_parser("school-key", help="issue, list and revoke schools' API keys")
    keys.add_argument("--referral-url", default=None, help="default: http://127.0.0.1:$REFERRAL_PORT")
    key_actions = keys.add_subparsers(dest="action", required=True)
    create = key_actions.add_parser("create")
    create.add_argument("school_id")
    create.add_argument("name")
    key_actions.add_parser("list").add_argument("school_id", nargs="?")
    key_actions.add_parser("revoke").add_argument("key_id")

    staff = commands.add_parser("staff-token", help="issue and revoke staff tokens (expire after a shift)")
    staff.add_argument("--console-url", default=None, help="default: http://127.0.0.1:$CONSOLE_PORT")
    staff_actions = staff.add_subparsers(dest="action", required=True)
    issue = staff_actions.add_parser("issue")
    issue.add_argument("subject", help="who holds it, e.g. a staff member's id")
    issue.add_argument("role", choices=STAFF_ROLES)
    issue.add_argument("--hospital", action="append", help="hospital scope (repeat); default: the region")
    issue.add_argument(
        "--hours", type=float, default=None, help="lifetime; default WAYMARK_STAFF_TOKEN_TTL_H"
    )
    staff_actions.add_parser("revoke").add_argument("token", help="the token, or its id")

    from services import staff_cli

    staff_cli.add_parser(commands)

    dlq = commands.add_parser("dlq", help="dead-letter topics on Kafka").add_subparsers(
        dest="action", required=True
    )
    for action in ("list", "replay"):
        dlq.add_parser(action).add_argument("group", help="consumer group, e.g. assessment")
    return parser


def _school_key(args: argparse.Namespace) -> int:
    settings = Settings.from_env("referral")
    base = (args.referral_url or f"http://127.0.0.1:{settings.port}").rstrip("/")
    token = StaffTokens(settings.staff_token_secret).issue("waymark-cli", "operator")
    if args.action == "create":
        status, body = call(
            "POST", f"{base}/admin/v1/school-keys", token, {"school_id": args.school_id, "name": args.name}
        )
        if status == 201:
            print(f"school {body['school_id']}: key id {body['key_id']}")
            print(f"API key (shown once, store it now): {body['key']}")
    elif args.action == "list":
        query = f"?school_id={args.school_id}" if args.school_id else ""
        status, body = call("GET", f"{base}/admin/v1/school-keys{query}", token)
        if status == 200:
            for key in body:
                print(json.dumps(key))
    else:
        status, body = call("DELETE", f"{base}/admin/v1/school-keys/{args.key_id}", token)
        if status == 204:
            print(f"revoked {args.key_id}")
    if status >= 300:
        print(f"error {status}: {json.dumps(body)}", file=sys.stderr)
        return 1
    return 0


def _staff_token(args: argparse.Namespace) -> int:
    settings = Settings.from_env("console")
    tokens = StaffTokens(settings.staff_token_secret, ttl_s=settings.staff_token_ttl_s)
    if args.action == "issue":
        ttl_s = args.hours * 3600 if args.hours else None
        token = tokens.issue(args.subject, args.role, args.hospital or ["*"], ttl_s=ttl_s)
        principal = tokens.decode(token)
        assert principal is not None
        expires = datetime.fromtimestamp(principal.expires_at, UTC).isoformat(timespec="seconds")
        print(
            f"token id {principal.token_id} ({args.role}, hospitals {','.join(principal.hospitals)}), expires {expires}"
        )
        print(token)
        return 0
    base = (args.console_url or f"http://127.0.0.1:{settings.port}").rstrip("/")
    body = {"token": args.token} if "." in args.token else {"token_id": args.token}
    operator = tokens.issue("waymark-cli", "operator", ttl_s=300)
    status, answer = call("POST", f"{base}/api/staff-tokens/revocations", operator, body)
    if status != 201:
        print(f"error {status}: {json.dumps(answer)}", file=sys.stderr)
        return 1
    print(
        f"revoked {answer['token_id']} (every service refuses it within WAYMARK_REVOCATION_CACHE_S seconds)"
    )
    return 0


def _seed(referrals: int) -> int:
    from services import demo
    from services.platform import available, demo_logins, print_banner

    urls = {name: f"http://127.0.0.1:{Settings.from_env(name).port}" for name in available()}
    secret = Settings.from_env("referral").staff_token_secret
    print(f"Seeding the demo region and {referrals} synthetic referrals into {urls['referral']}...")
    schools = demo.seed(urls, secret, referrals)
    console = Settings.from_env("console")
    logins = [] if console.embedded else demo_logins(console)  # embedded: `waymark demo` prints its own
    print_banner({**urls, "console": f"http://127.0.0.1:{console.port}"}, schools, logins)
    return 0


def _dlq(args: argparse.Namespace) -> int:
    from shared import dlq as dead_letters

    bootstrap = Settings.from_env(args.group).kafka_bootstrap
    topic = topics.dead_letters(args.group)
    if args.action == "list":
        for entry in dead_letters.list_dead_letters(bootstrap, topic):
            print(json.dumps(entry))
    else:
        print(f"replayed {dead_letters.replay(bootstrap, topic)} dead letters from {topic}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
