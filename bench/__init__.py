"""Benchmarks: ``make bench`` runs every module here and prints tables (medians of several runs)."""
