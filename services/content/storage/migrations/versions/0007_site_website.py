"""a site's website address and page URL pattern

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("website_url", sa.String(length=2000), nullable=True))
        batch.add_column(sa.Column("page_url_pattern", sa.String(length=2000), nullable=True))


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("page_url_pattern")
        batch.drop_column("website_url")
