"""document activity: one row per revision, publication, unpublication, revert and import

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "document_activity",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("locale", sa.String(length=35), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("message", sa.String(length=1000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('revision', 'revert', 'import', 'publish', 'unpublish')", name=op.f("ck_document_activity_kind")
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_document_activity_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_activity")),
    )
    with op.batch_alter_table("document_activity", schema=None) as batch_op:
        batch_op.create_index("ix_document_activity_document", ["document_id", "id"], unique=False)


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("document_activity", schema=None) as batch_op:
        batch_op.drop_index("ix_document_activity_document")
    op.drop_table("document_activity")
