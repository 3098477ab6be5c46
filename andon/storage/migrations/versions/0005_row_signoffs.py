"""board sign-offs: who signed a finished row, from which token, and when

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 14:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        'row_signoffs',
        sa.Column('line_id', sa.String(length=64), nullable=False),
        sa.Column('row_start', sa.Float(), nullable=False),
        sa.Column('person', sa.String(length=128), nullable=False),
        sa.Column('token_name', sa.String(length=128), nullable=False),
        sa.Column('signed_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('line_id', 'row_start'),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table('row_signoffs')
