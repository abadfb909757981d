"""How every JSON request body is read: Litestar's msgspec decoder, plus the checks it skips.

msgspec checks UTF-8 only as it decodes a string and raises a `UnicodeDecodeError` that is
no decoding error of its own, and it keeps the last of two members with the same name. Both
become 400 problems here, for every route with a JSON body, before the handler or any check
of the token runs.
"""

from __future__ import annotations

import json
from typing import Any

from litestar import Request

from services.content.domain.errors import DuplicateKey, MalformedBody
from services.content.domain.messages import N_, Message


class _Members(list[tuple[str, Any]]):
    """An object's members as the scanner read them, duplicates kept (to find where one is)."""


class _Repeated(Exception):
    """An object repeats a member: found by the fast pass, located by the slow one."""


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise _Repeated
    return members


def _first_repeated(value: Any, path: str) -> tuple[str, str] | None:
    """``(path of the object, key)`` of the first repeated member in ``value``, depth first."""
    if isinstance(value, _Members):
        seen: set[str] = set()
        for key, member in value:
            if key in seen:
                return path, key
            seen.add(key)
            found = _first_repeated(member, f"{path}.{key}")
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_repeated(item, f"{path}[{index}]")
            if found:
                return found
    return None


def refuse_duplicate_keys(body: bytes) -> None:
    """Raise `DuplicateKey` if an object anywhere in ``body`` (valid UTF-8 JSON) repeats a member.

    The standard library's C scanner hands each object's members over as a list, before they
    become a dict: one more linear pass over a body msgspec has already accepted. Only when a
    key repeats is the body read again, slowly, to say where.
    """
    text = body.decode("utf-8")
    try:
        json.loads(text, object_pairs_hook=_unique_members)
    except _Repeated:
        found = _first_repeated(json.loads(text, object_pairs_hook=_Members), "$")
        path, key = found if found else ("$", "")
        raise DuplicateKey(
            Message(N_("{path}: the key '{key}' appears more than once; send it once"), path=path, key=key),
            key=key,
        ) from None
    except ValueError:  # pragma: no cover - both follow RFC 8259; msgspec's verdict on syntax stands
        pass


def not_utf8(body: bytes) -> MalformedBody:
    """The problem for a body that is not valid UTF-8, naming the first bad byte."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        position = exc.start
    else:  # pragma: no cover - called only once msgspec found a bad byte
        position = 0
    return MalformedBody(
        Message(N_("byte {position} of the body is not valid UTF-8; send the body in UTF-8"), position=position)
    )


class JSONRequest(Request[Any, Any, Any]):
    """The app's request class: `json` refuses invalid UTF-8 and duplicate keys with a problem."""

    __slots__ = ("_keys_checked",)

    async def json(self) -> Any:
        """The decoded JSON body (``None`` for an empty one)."""
        try:
            value = await super().json()
        except UnicodeDecodeError:
            raise not_utf8(await self.body()) from None
        if not getattr(self, "_keys_checked", False):
            body = await self.body()
            if body:
                refuse_duplicate_keys(body)
            self._keys_checked = True
        return value
