"""What a site agent has applied: the state, saved beside its files, that makes it restartable."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec

from services.sync.agent_files import atomic_write, fsync_folder
from services.sync.agent_health import AgentHealth, DeadLetter


class PageCopy(msgspec.Struct):
    """The local copy of one (page, locale)."""

    revision: int
    etag: str
    sequence: int
    published_at: dt.datetime = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    """Publication time of the copy: what orders two renders of one page (Unix seconds in older files)."""


class AgentState(msgspec.Struct):
    """Persisted beside the files, rewritten atomically after every applied event."""

    site: str
    last_sequence: int = 0
    pages: dict[str, PageCopy] = {}
    health: AgentHealth = msgspec.field(default_factory=AgentHealth)
    """Where it reads events from and its current problems (`agent_health`)."""
    dead_letters: list[DeadLetter] = []
    """The newest events it gave up on, with the reason: kept here too, since Redis may lose its dead-letter stream."""
    template_hash: str = ""
    """Hash of the site template the complete pages were written with (`site_template.py`)."""


class StateFile:
    """The agent's state file in its output folder."""

    NAME = ".liaison-agent.json"

    def __init__(self, out_dir: Path, site: str) -> None:
        self.path = out_dir / self.NAME
        self.site = site

    def load(self) -> AgentState:
        """The saved state, or a fresh one (which triggers a full resync)."""
        try:
            # Not strict: files of older agents hold publication times as Unix seconds.
            state = msgspec.json.decode(self.path.read_bytes(), type=AgentState, strict=False)
        except (FileNotFoundError, msgspec.DecodeError):
            return AgentState(site=self.site)
        return state if state.site == self.site else AgentState(site=self.site)

    def save(self, state: AgentState) -> None:
        """Persist the state atomically and durably, after the files it describes.

        The folder is synced first: the renames of the render files written since the
        last save reach the disk before a state that says they were written (otherwise a
        crash could leave a state naming an ETag whose file is still the old one, and the
        agent would skip that page's next events). It is synced again after the state's
        own rename, so that what the agent acknowledges next is on disk.
        """
        fsync_folder(self.path.parent)
        atomic_write(self.path, msgspec.json.encode(state))
        fsync_folder(self.path.parent)


def rfc3339(moment: dt.datetime) -> str:
    """``2026-01-01T09:30:00.123456Z``: an aware time in UTC, to the microsecond, as the journal writes it."""
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
