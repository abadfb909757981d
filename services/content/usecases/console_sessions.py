"""Use cases about console sessions: sign in with a token, find the session's principal, sign out.

A session is a random id the browser keeps in a cookie; the database keeps only its SHA-256
(like a token's secret), so every replica knows every session and a copy of the table signs
nobody in. A session acts for the token it was opened with: each request checks that token
again through `tokens.token_principal`, so revoking the token ends its sessions at once, and
role or scope are never copied into the session. A session also ends when it has not been used
for the idle time (``LIAISON_CONSOLE_IDLE_MINUTES``).
"""

from __future__ import annotations

import datetime as dt
import secrets

import msgspec

from services.content.domain.access import Principal
from services.content.domain.errors import Unauthenticated
from services.content.domain.messages import N_, Message
from services.content.storage.database import Database
from services.content.usecases.tokens import authenticate, hash_secret, token_principal

SESSION_ID_BYTES = 32
"""Random bytes in a session id (256 bits: nothing to guess, so a fast hash stores it safely)."""

TOUCH_EVERY = dt.timedelta(minutes=1)
"""How stale a session's last use may be before a request records it again.

Recording every request would make every page view a write (a lock on SQLite); the idle time is
therefore counted from the last recorded use, at most this much before the real one.
"""


class OpenedSession(msgspec.Struct, frozen=True):
    """A new session: the only time its id is available, and who it acts for."""

    session_id: str
    principal: Principal


class SessionEnded(Unauthenticated):
    """The session is unknown, idle for too long, or its token was revoked: sign in again."""


async def open_session(db: Database, secret: str, at: dt.datetime, idle: dt.timedelta) -> OpenedSession:
    """Exchange a token's secret for a new session; `Unauthenticated` (nothing stored) for a wrong one.

    Sessions of anyone that have been idle longer than ``idle`` are deleted on the way.
    """
    principal = await authenticate(db, secret)
    session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
    async with db.transaction() as repo:
        await repo.delete_idle_console_sessions(at - idle)
        await repo.insert_console_session(hash_secret(session_id), principal.token_id, at)
    return OpenedSession(session_id=session_id, principal=principal)


async def session_principal(db: Database, session_id: str, at: dt.datetime, idle: dt.timedelta) -> Principal:
    """The principal a session acts for, checked now; `SessionEnded` if it is over (then it is deleted)."""
    id_hash = hash_secret(session_id)
    async with db.reading() as repo:
        session = await repo.console_session(id_hash)
    if session is None:
        raise SessionEnded(Message(N_("this session is unknown or over; sign in again")))
    if at - session.last_seen_at > idle:
        await _delete(db, id_hash)
        raise SessionEnded(Message(N_("this session was idle for too long; sign in again")))
    try:
        principal = await token_principal(db, session.token_id)
    except Unauthenticated:
        await _delete(db, id_hash)
        raise SessionEnded(Message(N_("the token of this session is revoked; sign in with another"))) from None
    if at - session.last_seen_at >= TOUCH_EVERY:
        async with db.transaction() as repo:
            await repo.touch_console_session(id_hash, at)
    return principal


async def close_session(db: Database, session_id: str) -> None:
    """Sign out: delete the session (nothing happens if it is already gone)."""
    await _delete(db, hash_secret(session_id))


async def _delete(db: Database, id_hash: str) -> None:
    async with db.transaction() as repo:
        await repo.delete_console_session(id_hash)
