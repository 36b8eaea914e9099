"""Mechanism shared by every Waymark service: settings, events, messaging, storage, HTTP.

Domain logic never lives here; each service owns its own (see docs/architecture.md).
"""
