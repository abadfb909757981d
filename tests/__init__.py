"""Liaison test suite."""
