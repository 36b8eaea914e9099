"""The referral service: the schools' front door.

It owns the Case aggregate (a school's referral of a child, its status timeline, the
guardians' contacts and consent, attendance reports during follow-up), the schools'
API keys and webhook registrations. Personal data is encrypted field by field at rest
and never leaves on an event: events carry the case id and non-identifying facts only.
"""
