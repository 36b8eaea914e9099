"""Integration tests use the real-infrastructure fixtures of tests/conftest.py."""
