"""management routines: board sign-offs (who signed a finished row, from which token, when), shift handover
notes and the incoming leader's acknowledgement; the notification delivery log

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
    op.create_table(
        'notifications',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('call_id', sa.Integer(), nullable=False),
        sa.Column('event', sa.String(length=16), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('target', sa.String(length=1024), nullable=False),
        sa.Column('person', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.Column('updated_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_call', ['call_id'], unique=False)
        batch_op.create_index('ix_notifications_status', ['status'], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_status')
        batch_op.drop_index('ix_notifications_call')
    op.drop_table('notifications')
    op.drop_table('handover_acks')
    with op.batch_alter_table('handover_notes', schema=None) as batch_op:
        batch_op.drop_index('ix_handover_notes_shift')
    op.drop_table('handover_notes')
    op.drop_table('row_signoffs')
