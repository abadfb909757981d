"""Who may do what: roles, site scopes and locale scopes of API tokens."""

from __future__ import annotations

import enum

import msgspec

from services.content.domain.errors import Forbidden
from services.content.domain.messages import N_, Message


class Role(enum.StrEnum):
    """A token's role. Each role can do what the ones below it can, within its scope."""

    READER = "reader"
    """Reads drafts, history and diffs."""
    TRANSLATOR = "translator"
    """Also writes translation revisions in its locales."""
    EDITOR = "editor"
    """Also writes source revisions, publishes, reverts, and edits facts."""
    ADMIN = "admin"
    """Also creates sites and deletes documents and facts."""

    @property
    def scoped_by_locale(self) -> bool:
        """Whether a token's locales bind this role: translators only; the others are scoped by site only."""
        return self is Role.TRANSLATOR


_RANK = {Role.READER: 0, Role.TRANSLATOR: 1, Role.EDITOR: 2, Role.ADMIN: 3}


class Action(enum.StrEnum):
    """Things a request may try to do."""

    READ_DRAFTS = "read drafts"
    WRITE_TRANSLATION = "write a translation"
    WRITE_SOURCE = "write a revision"
    PUBLISH = "publish"
    REVERT = "revert"
    WRITE_FACT = "write a fact"
    DELETE = "delete"
    MANAGE_SITES = "manage sites"


_ACTION_WORDS = {
    Action.READ_DRAFTS: N_("read drafts"),
    Action.WRITE_TRANSLATION: N_("write a translation"),
    Action.WRITE_SOURCE: N_("write a revision"),
    Action.PUBLISH: N_("publish"),
    Action.REVERT: N_("revert"),
    Action.WRITE_FACT: N_("write a fact"),
    Action.DELETE: N_("delete"),
    Action.MANAGE_SITES: N_("manage sites"),
}
"""The action in a sentence (the enum's value stays the machine-readable ``action`` member)."""

_NEEDS = {
    Action.READ_DRAFTS: Role.READER,
    Action.WRITE_TRANSLATION: Role.TRANSLATOR,
    Action.WRITE_SOURCE: Role.EDITOR,
    Action.PUBLISH: Role.EDITOR,
    Action.REVERT: Role.EDITOR,
    Action.WRITE_FACT: Role.EDITOR,
    Action.DELETE: Role.ADMIN,
    Action.MANAGE_SITES: Role.ADMIN,
}


class Principal(msgspec.Struct, frozen=True):
    """The holder of a valid token.

    ``sites`` and ``locales`` of ``None`` mean "all". A resource that belongs to
    no single site (a shared fragment, a global fact, the site list) is only
    writable by a token scoped to all sites.
    """

    token_id: int
    name: str
    role: Role
    sites: frozenset[str] | None = None
    locales: frozenset[str] | None = None

    @classmethod
    def system(cls, name: str) -> Principal:
        """An all-sites admin acting for a local command (seed, import), not for a token holder."""
        return cls(token_id=0, name=name, role=Role.ADMIN)

    def allows(self, action: Action, *, site: str | None, locale: str | None = None) -> bool:
        """Whether this token may do ``action`` on ``site`` (None: all sites) in ``locale``."""
        if _RANK[self.role] < _RANK[_NEEDS[action]]:
            return False
        if self.sites is not None and (site is None or site not in self.sites):
            return False
        # Locale scopes bind translators; editors and admins are scoped by site only.
        return not (
            self.role.scoped_by_locale
            and action is Action.WRITE_TRANSLATION
            and self.locales is not None
            and (locale is None or locale not in self.locales)
        )

    def require(self, action: Action, *, site: str | None, locale: str | None = None) -> None:
        """Raise `Forbidden` unless `allows` says yes."""
        if not self.allows(action, site=site, locale=locale):
            where = Message(N_("site '{site}'"), site=site) if site else Message(N_("all sites"))
            if locale:
                where = Message(N_("{where}, locale '{locale}'"), where=where, locale=locale)
            raise Forbidden(
                Message(
                    N_("token '{name}' (role {role}) may not {action} on {where}"),
                    name=self.name,
                    role=self.role.value,
                    action=Message(_ACTION_WORDS[action]),
                    where=where,
                ),
                action=action.value,
            )
