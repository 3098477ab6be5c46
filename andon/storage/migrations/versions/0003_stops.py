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
    op.create_table(
        'count_quarters',
        sa.Column('line_id', sa.String(length=64), nullable=False),
        sa.Column('quarter', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('good', sa.Integer(), nullable=False),
        sa.Column('scrap', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('line_id', 'quarter'),
    )
    # The totals of the counts stored before this revision.
    quarter = 'CAST(floor(ts / 900) AS INTEGER)' if op.get_bind().dialect.name == 'postgresql' else \
        'CAST(ts / 900 AS INTEGER) - (ts < 0)'
    op.execute(
        "INSERT INTO count_quarters (line_id, quarter, good, scrap) "
        f"SELECT line_id, {quarter}, "
        "SUM(CASE WHEN kind = 'good' THEN count ELSE 0 END), SUM(CASE WHEN kind = 'scrap' THEN count ELSE 0 END) "
        f"FROM count_events GROUP BY line_id, {quarter}"
    )
    op.create_table(
        'scrap_quarters',
        sa.Column('line_id', sa.String(length=64), nullable=False),
        sa.Column('quarter', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('reason', sa.String(length=64), nullable=False),
        sa.Column('parts', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('line_id', 'quarter', 'reason'),
    )
    op.execute(
        "INSERT INTO scrap_quarters (line_id, quarter, reason, parts) "
        f"SELECT line_id, {quarter}, COALESCE(reason, ''), SUM(count) FROM count_events WHERE kind = 'scrap' "
        f"GROUP BY line_id, {quarter}, COALESCE(reason, '')"
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table('scrap_quarters')
    op.drop_table('count_quarters')
    with op.batch_alter_table('problems') as batch:
        batch.drop_column('reason_code')
    with op.batch_alter_table('count_events') as batch:
        batch.drop_column('reason')
    op.drop_index('ix_stop_splits_line_at', table_name='stop_splits')
    op.drop_table('stop_splits')
    op.drop_index('ix_stops_line_start', table_name='stops')
    op.drop_table('stops')
