"""Liaison's deployable services: the content service and the sync worker."""
