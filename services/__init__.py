"""Waymark's services; each is a package with the same shape (see docs/adding-a-service.md)."""
