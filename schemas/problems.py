"""RFC 9457 problem details, the body of every 4xx and 5xx answer."""

from __future__ import annotations

from typing import Any

import msgspec


class Problem(msgspec.Struct, omit_defaults=True):
    """An ``application/problem+json`` body.

    ``type`` is a stable URN (``urn:liaison:problem:<name>``) clients can switch
    on; ``detail`` names the field path or key at fault. Extension members carry
    machine-readable context (``current`` head, ``references``...).
    """

    type: str
    title: str
    status: int
    detail: str = ""
    instance: str | None = None
    extensions: dict[str, Any] | None = None
