"""Fragment include graph rules."""

from __future__ import annotations

from collections.abc import Callable, Iterable


def find_cycle(start: str, includes: Iterable[str], includes_of: Callable[[str], Iterable[str]]) -> list[str] | None:
    """Return the include path that leads back to fragment ``start``, or None.

    ``includes`` are the fragments the new revision of ``start`` includes;
    ``includes_of(key)`` gives what fragment ``key`` includes in any of its
    current revisions.
    """
    stack: list[tuple[str, list[str]]] = [(key, [start, key]) for key in includes]
    seen: set[str] = set()
    while stack:
        key, path = stack.pop()
        if key == start:
            return path
        if key in seen:
            continue
        seen.add(key)
        stack.extend((child, [*path, child]) for child in includes_of(key))
    return None
