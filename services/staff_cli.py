"""``waymark staff``: create, list, disable, enable and unlock staff accounts in the auth database.

The command writes the shared auth database directly (whoever runs it holds the install's
store credentials, as for ``waymark staff-token``), so it needs the real store: in the
embedded mode accounts live in the demo process's memory and the demo prints its logins.
A new account's password is generated and printed once unless ``--password-stdin`` gives one.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from typing import Any

from shared.settings import Settings
from shared.staff import oidc
from shared.staff.accounts import ROLES, AccountExists, NoSuchAccount
from shared.staff.passwords import WeakPassword
from shared.staff.signin import StaffAuth


def add_parser(commands: Any) -> None:
    staff = commands.add_parser("staff", help="staff accounts: people who sign in on the pages")
    actions = staff.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="a new account (prints a generated password once)")
    create.add_argument("username")
    create.add_argument("role", choices=ROLES)
    create.add_argument("--hospital", action="append", help="hospital scope (repeat); default: the region")
    create.add_argument("--name", default="", help="the person's name, as pages show it")
    how = create.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    how.add_argument(
        "--sso-only", action="store_true", help="no password: signs in through its hospital's OIDC"
    )
    how.add_argument(
        "--sso-subject",
        default=None,
        help="no password; link to this subject ('sub') at the OpenID provider of its one --hospital",
    )
    listing = actions.add_parser("list", help="accounts by user name, 100 at a time")
    listing.add_argument("--hospital", default=None)
    listing.add_argument("--after", default="", help="continue after this user name")
    for action, text in (
        ("disable", "refuse sign-in and end the account's sessions now"),
        ("enable", "allow sign-in again"),
        ("unlock", "forget failed sign-ins (lockout) for a user name"),
    ):
        actions.add_parser(action, help=text).add_argument("username")


def run(args: argparse.Namespace, auth: StaffAuth | None = None) -> int:
    if auth is None:
        settings = Settings.from_env("console")
        if settings.embedded:
            print(
                "error: staff accounts need the shared store (WAYMARK_MODE=kafka); "
                "the embedded demo keeps its accounts in memory and prints its logins",
                file=sys.stderr,
            )
            return 2
        auth = StaffAuth.for_settings(settings)
    try:
        return _ACTIONS[args.action](auth, args)
    except (AccountExists, NoSuchAccount, WeakPassword, ValueError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 1


def _create(auth: StaffAuth, args: argparse.Namespace) -> int:
    generated = None
    if args.sso_subject and len(args.hospital or []) != 1:
        raise ValueError("--sso-subject needs exactly one --hospital: the one whose provider vouches for it")
    if args.sso_only or args.sso_subject:
        password = None
    elif args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = generated = secrets.token_urlsafe(15)
    account = auth.create_account(
        args.username.lower(), args.role, args.hospital or ["*"], password=password, name=args.name
    )
    print(f"created {account.username} ({account.role}, hospitals {','.join(account.hospitals)})")
    if args.sso_subject:
        try:
            oidc.link_subject(
                auth.accounts.collection.database, auth, args.hospital[0], args.sso_subject, account.username
            )
        except oidc.SsoError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"signs in through {args.hospital[0]}'s OpenID provider as subject {args.sso_subject}")
    if generated:
        print(f"password (shown once, hand it over safely): {generated}")
    return 0


def _list(auth: StaffAuth, args: argparse.Namespace) -> int:
    for account in auth.accounts.list(hospital=args.hospital, after=args.after):
        print(json.dumps(account.public()))
    return 0


def _disable(auth: StaffAuth, args: argparse.Namespace) -> int:
    ended = auth.disable(args.username)
    print(f"disabled {args.username}; ended {ended} session(s)")
    return 0


def _enable(auth: StaffAuth, args: argparse.Namespace) -> int:
    auth.enable(args.username)
    print(f"enabled {args.username}")
    return 0


def _unlock(auth: StaffAuth, args: argparse.Namespace) -> int:
    print(f"cleared {auth.lockout.clear(args.username)} failed attempt(s) for {args.username}")
    return 0


_ACTIONS = {"create": _create, "list": _list, "disable": _disable, "enable": _enable, "unlock": _unlock}
