"""The database schema, as SQLAlchemy Core tables. Alembic migrations must match it."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Timestamp = sa.DateTime(timezone=True)

sites = sa.Table(
    "sites",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(63), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("locales", sa.JSON, nullable=False),
    sa.Column("default_locale", sa.String(35), nullable=False),
    sa.Column("fallback", sa.JSON, nullable=False),
    sa.Column("country", sa.String(2)),
    sa.Column("created_at", Timestamp, nullable=False),
)

documents = sa.Table(
    "documents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id")),
    sa.Column("slug", sa.String(121)),
    sa.Column("key", sa.String(100), unique=True),
    sa.Column("source_locale", sa.String(35), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("site_id", "slug", name="uq_documents_site_slug"),
    sa.CheckConstraint(
        "(kind = 'page' AND site_id IS NOT NULL AND slug IS NOT NULL AND key IS NULL)"
        " OR (kind = 'fragment' AND site_id IS NULL AND slug IS NULL AND key IS NOT NULL)",
        name="page_or_fragment",
    ),
)

variants = sa.Table(
    "variants",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False),
    sa.Column("locale", sa.String(35), nullable=False),
    sa.Column("head_revision", sa.Integer, nullable=False),
    sa.Column("published_revision", sa.Integer),
    sa.Column("published_at", Timestamp),
    sa.UniqueConstraint("document_id", "locale", name="uq_variants_document_locale"),
)

revisions = sa.Table(
    "revisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("variant_id", sa.Integer, sa.ForeignKey("variants.id", ondelete="CASCADE"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("blocks", sa.JSON, nullable=False),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("message", sa.String(1000), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("base_revision", sa.Integer),
    sa.Column("source_revision", sa.Integer),
    # The unique pair is what makes "exactly one writer wins" hold on every engine.
    sa.UniqueConstraint("variant_id", "number", name="uq_revisions_variant_number"),
)

revision_references = sa.Table(
    "revision_references",
    metadata,
    sa.Column("revision_id", sa.Integer, sa.ForeignKey("revisions.id", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),  # 'fact' or 'fragment'
    sa.Column("target", sa.String(100), nullable=False),
    sa.PrimaryKeyConstraint("revision_id", "kind", "target", name="pk_revision_references"),
    sa.Index("ix_revision_references_target", "kind", "target"),
)

facts = sa.Table(
    "facts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(100), nullable=False),
    sa.Column("scope", sa.String(63), nullable=False),  # 'global' or a site key
    sa.Column("type", sa.String(20), nullable=False),
    sa.Column("head_version", sa.Integer, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.UniqueConstraint("scope", "key", name="uq_facts_scope_key"),
)

fact_versions = sa.Table(
    "fact_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("fact_id", sa.Integer, sa.ForeignKey("facts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("value", sa.JSON, nullable=False),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("message", sa.String(500), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("fact_id", "version", name="uq_fact_versions_fact_version"),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    # SHA-256 of the secret; the secret itself is never stored or logged.
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("sites", sa.JSON),
    sa.Column("locales", sa.JSON),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("revoked_at", Timestamp),
)

console_sessions = sa.Table(
    "console_sessions",
    metadata,
    # SHA-256 of the session id the browser holds in its cookie; the id itself is never stored or logged.
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("token_id", sa.Integer, sa.ForeignKey("tokens.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("last_seen_at", Timestamp, nullable=False),
)

outbox = sa.Table(
    "outbox",
    metadata,
    # Written in the same transaction as the change, with the next sequence of its
    # site from `outbox_sequences` (so sequences are gapless and in commit order).
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(36), nullable=False, unique=True),
    sa.Column("site", sa.String(63), nullable=False),
    sa.Column("document_id", sa.Integer, nullable=False),
    sa.Column("slug", sa.String(121), nullable=False),
    sa.Column("locale", sa.String(35), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # published | unpublished | rerendered | translation_outdated
    sa.Column("reason", sa.String(20), nullable=False),  # publish | unpublish | fact | fragment | alternates
    sa.Column("revision", sa.Integer),
    sa.Column("cause", sa.String(200), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("sequence", sa.Integer),
    sa.Column("etag", sa.String(80)),  # the ETag the relayed event carried (read back from the stream on a retry)
    sa.Column("relayed_at", Timestamp),
    sa.UniqueConstraint("site", "sequence", name="uq_outbox_site_sequence"),
    sa.Index("ix_outbox_unrelayed", "relayed_at", "id"),
)

outbox_sequences = sa.Table(
    "outbox_sequences",
    metadata,
    # A site's last assigned outbox sequence. A writer increments it in its own
    # transaction, which locks the row until commit: the next writer of the site
    # waits, so sequences become visible in order, and a rollback frees the number.
    sa.Column("site", sa.String(63), primary_key=True),
    sa.Column("last", sa.Integer, nullable=False),
)

leases = sa.Table(
    "leases",
    metadata,
    # One row per singleton worker (the relay): whoever holds an unexpired lease runs.
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
)

document_activity = sa.Table(
    "document_activity",
    metadata,
    # One row per change to a document, written in the transaction of the change (a rollback
    # leaves none): revisions written, publications, unpublications, reverts, translation imports.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False),
    sa.Column("locale", sa.String(35), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("revision", sa.Integer),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("message", sa.String(1000), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.CheckConstraint("kind IN ('revision', 'revert', 'import', 'publish', 'unpublish')", name="kind"),
    sa.Index("ix_document_activity_document", "document_id", "id"),
)
