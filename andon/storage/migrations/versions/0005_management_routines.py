"""management routines: board sign-offs (who signed a finished row, from which token, when), shift handover
notes and the incoming leader's acknowledgement

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
    op.create_table(
        'handover_notes',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('line_id', sa.String(length=64), nullable=False),
        sa.Column('shift_date', sa.String(length=10), nullable=False),
        sa.Column('shift_id', sa.String(length=64), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('person', sa.String(length=128), nullable=False),
        sa.Column('token_name', sa.String(length=128), nullable=False),
        sa.Column('written_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('handover_notes', schema=None) as batch_op:
        batch_op.create_index('ix_handover_notes_shift', ['line_id', 'shift_date', 'shift_id'], unique=False)
    op.create_table(
        'handover_acks',
        sa.Column('line_id', sa.String(length=64), nullable=False),
        sa.Column('shift_date', sa.String(length=10), nullable=False),
        sa.Column('shift_id', sa.String(length=64), nullable=False),
        sa.Column('person', sa.String(length=128), nullable=False),
        sa.Column('token_name', sa.String(length=128), nullable=False),
        sa.Column('acknowledged_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('line_id', 'shift_date', 'shift_id'),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table('handover_acks')
    with op.batch_alter_table('handover_notes', schema=None) as batch_op:
        batch_op.drop_index('ix_handover_notes_shift')
    op.drop_table('handover_notes')
    op.drop_table('row_signoffs')
