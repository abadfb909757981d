"""outbox sequences assigned by writers

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "outbox_sequences",
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("site", name=op.f("pk_outbox_sequences")),
    )
    # Rows written before this migration waited for the relay to number them: number them now,
    # in id order after each site's highest sequence, then start every counter where its site is.
    bind = op.get_bind()
    outbox = sa.table(
        "outbox", sa.column("id", sa.Integer), sa.column("site", sa.String), sa.column("sequence", sa.Integer)
    )
    heads = dict(bind.execute(sa.select(outbox.c.site, sa.func.max(outbox.c.sequence)).group_by(outbox.c.site)).all())
    unnumbered = bind.execute(
        sa.select(outbox.c.id, outbox.c.site).where(outbox.c.sequence.is_(None)).order_by(outbox.c.id)
    ).all()
    for row_id, site in unnumbered:
        heads[site] = (heads.get(site) or 0) + 1
        bind.execute(sa.update(outbox).where(outbox.c.id == row_id).values(sequence=heads[site]))
    counters = sa.table("outbox_sequences", sa.column("site", sa.String), sa.column("last", sa.Integer))
    rows = [{"site": site, "last": last or 0} for site, last in heads.items()]
    if rows:
        bind.execute(sa.insert(counters), rows)


def downgrade() -> None:
    """Revert this migration."""
    op.drop_table("outbox_sequences")
