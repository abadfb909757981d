"""What can go wrong while the site agent applies an event, by what it calls for."""

from __future__ import annotations

import errno
import os
from pathlib import Path


class PoisonEvent(Exception):
    """An entry that can never be applied (bad JSON, wrong shape, wrong site, too big, an unreadable render)."""


class Transient(Exception):
    """A failure worth retrying later (content API unreachable, 5xx, replica behind)."""


class FileSystemError(Transient):
    """The agent's folder refused a write: permission denied, disk full, read-only file system...

    Retried with backoff like any transient failure, and nothing it could not write is
    acknowledged; but it is reported as what it is, naming the path and the error,
    never as Redis or the content API being unreachable. It is not an ``OSError``, so
    that the handlers of Redis' connection errors (which include ``OSError``) never
    take it for one of theirs.
    """

    def __init__(self, target: str, path: str, code: int, text: str) -> None:
        self.target = target
        """The file the agent was writing (or removing): its next success ends the problem."""
        self.path = path
        """The path the system refused (a temporary file beside ``target``, or ``target``)."""
        self.code = code
        self.text = text
        name = errno.errorcode.get(code, str(code))
        where = "" if path == target else f" ({path})"
        super().__init__(f"file system error: cannot write {target}: [Errno {code}] {text} [{name}]{where}")

    @classmethod
    def of(cls, exc: OSError, target: Path | str) -> FileSystemError:
        """The agent's view of ``exc`` raised while writing ``target``."""
        named = exc.filename2 if exc.filename2 is not None else exc.filename
        path = os.fsdecode(named) if named is not None else str(target)
        return cls(str(target), path, exc.errno or 0, exc.strerror or str(exc))

    @property
    def folder(self) -> str:
        """The folder of the file: one failing folder is one problem, whichever of its files failed first."""
        return os.path.dirname(self.target) or "."
