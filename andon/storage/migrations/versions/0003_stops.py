"""stops, stop splits and scrap reasons

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        'stops',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('line_id', sa.String(length=64), nullable=False),
        sa.Column('start', sa.Float(), nullable=False),
        sa.Column('end', sa.Float(), nullable=True),
        sa.Column('origin', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.String(length=64), nullable=True),
        sa.Column('reason_by', sa.String(length=128), nullable=False),
        sa.Column('reason_at', sa.Float(), nullable=True),
        sa.Column('note', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_stops_line_start', 'stops', ['line_id', 'start'], unique=False)
    op.create_table(
        'stop_splits',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('line_id', sa.String(length=64), nullable=False),
        sa.Column('at', sa.Float(), nullable=False),
        sa.Column('created_by', sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_stop_splits_line_at', 'stop_splits', ['line_id', 'at'], unique=False)
    with op.batch_alter_table('count_events') as batch:
        batch.add_column(sa.Column('reason', sa.String(length=64), nullable=True))
    with op.batch_alter_table('problems') as batch:
        batch.add_column(sa.Column('reason_code', sa.String(length=64), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('problems') as batch:
        batch.drop_column('reason_code')
    with op.batch_alter_table('count_events') as batch:
        batch.drop_column('reason')
    op.drop_index('ix_stop_splits_line_at', table_name='stop_splits')
    op.drop_table('stop_splits')
    op.drop_index('ix_stops_line_start', table_name='stops')
    op.drop_table('stops')
