"""Use cases about API tokens: create (shown once), list, revoke, authenticate."""

from __future__ import annotations

import hashlib
import secrets

import msgspec

from services.content.domain.access import Principal, Role
from services.content.domain.errors import InvalidContent, NotFound, Unauthenticated
from services.content.domain.locales import normalize_locale
from services.content.domain.messages import N_, Message
from services.content.domain.model import Token
from services.content.storage.database import Database

TOKEN_PREFIX = "lsn_"  # noqa: S105 - a public prefix, not a secret


def hash_secret(secret: str) -> str:
    """SHA-256 hex digest of a token secret.

    The secrets are 256 random bits, so a fast hash is enough: there is nothing
    to brute-force, unlike a password.
    """
    return hashlib.sha256(secret.encode()).hexdigest()


class IssuedToken(msgspec.Struct):
    """A newly created token: the only time its secret is available."""

    token: Token
    secret: str


async def create_token(
    db: Database, name: str, role: str, sites: list[str] | None, locales: list[str] | None
) -> IssuedToken:
    """Create a token and return its secret (stored only as a hash)."""
    try:
        checked_role = Role(role)
    except ValueError:
        raise InvalidContent(
            Message(N_("role: '{role}' is not one of {roles}"), role=role, roles=", ".join(r.value for r in Role))
        ) from None
    if locales and not checked_role.scoped_by_locale:
        raise InvalidContent(
            Message(
                N_("locales: only translator tokens are limited to locales; {role} tokens are scoped by site only"),
                role=checked_role.value,
            )
        )
    normalised_locales = [normalize_locale(tag) for tag in locales] if locales else None
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with db.transaction() as repo:
        for key in sites or []:
            if await repo.site(key) is None:
                raise InvalidContent(Message(N_("sites: no site '{site}'"), site=key))
        token = await repo.insert_token(name, hash_secret(secret), checked_role.value, sites, normalised_locales)
    return IssuedToken(token=token, secret=secret)


async def list_tokens(db: Database) -> list[Token]:
    """Every token (never their secrets, which are not stored)."""
    async with db.reading() as repo:
        return await repo.list_tokens()


async def revoke_token(db: Database, token_id: int) -> None:
    """Revoke a token at once."""
    async with db.transaction() as repo:
        if not await repo.revoke_token(token_id):
            raise NotFound(Message(N_("no live token {id}"), id=token_id))


async def authenticate(db: Database, secret: str) -> Principal:
    """The principal holding ``secret``; `Unauthenticated` if unknown or revoked."""
    async with db.reading() as repo:
        token = await repo.token_by_hash(hash_secret(secret))
    if token is None:
        raise Unauthenticated(Message(N_("the bearer token is unknown or revoked")))
    return _principal(token)


async def token_principal(db: Database, token_id: int) -> Principal:
    """The principal of the live token ``token_id`` (a console session's); `Unauthenticated` if revoked."""
    async with db.reading() as repo:
        token = await repo.token(token_id)
    if token is None:
        raise Unauthenticated(Message(N_("the token of this session is revoked")))
    return _principal(token)


def _principal(token: Token) -> Principal:
    return Principal(
        token_id=token.id,
        name=token.name,
        role=Role(token.role),
        sites=frozenset(token.sites) if token.sites is not None else None,
        locales=frozenset(token.locales) if token.locales is not None else None,
    )
