"""Alembic migrations of the content database."""
