"""Staff identity: accounts, passwords, lockout, TOTP, server-side sessions and the sign-in pages.

People (schedulers, clinicians, operators, admins) sign in on a service's pages; a signed-in
session resolves to the same :class:`shared.auth.Principal` a signed staff token gives, so
every route policy applies unchanged. Signed bearer tokens stay for services and scripts.
Everything is kept in the shared auth database (``WAYMARK_AUTH_DB``). See
docs/services/staff-identity.md.
"""
