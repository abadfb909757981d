"""msgspec contracts shared by the content service and the sync worker.

Every request, response and event body is a `msgspec.Struct` defined here; the
JSON Schema of the public ones is exported to ``schemas/*.schema.json``.
"""
