"""products: runs, not-scheduled periods, work orders

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        'product_runs',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('line_id', sa.String(length=64), nullable=False),
        sa.Column('product_id', sa.String(length=64), nullable=False),
        sa.Column('start', sa.Float(), nullable=False),
        sa.Column('end', sa.Float(), nullable=True),
        sa.Column('work_order_id', sa.String(length=64), nullable=True),
        sa.Column('changeover_seconds', sa.Float(), nullable=True),
        sa.Column('previous_product', sa.String(length=64), nullable=True),
        sa.Column('source', sa.String(length=32), nullable=False),
        sa.Column('set_by', sa.String(length=128), nullable=False),
        sa.Column('set_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('product_runs', schema=None) as batch_op:
        batch_op.create_index('ix_product_runs_line_start', ['line_id', 'start'], unique=False)
    op.create_table(
        'not_scheduled',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('line_id', sa.String(length=64), nullable=False),
        sa.Column('start', sa.Float(), nullable=False),
        sa.Column('end', sa.Float(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('until_first_count', sa.Boolean(), nullable=False),
        sa.Column('set_by', sa.String(length=128), nullable=False),
        sa.Column('set_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('not_scheduled', schema=None) as batch_op:
        batch_op.create_index('ix_not_scheduled_line_start', ['line_id', 'start'], unique=False)
    op.create_table(
        'work_orders',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('line_id', sa.String(length=64), nullable=False),
        sa.Column('product_id', sa.String(length=64), nullable=False),
        sa.Column('quantity', sa.Integer(), nullable=False),
        sa.Column('due', sa.Float(), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.Column('created_by', sa.String(length=128), nullable=False),
        sa.Column('started_at', sa.Float(), nullable=True),
        sa.Column('completed_at', sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('work_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_work_orders_line_id'), ['line_id'], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('work_orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_work_orders_line_id'))
    op.drop_table('work_orders')
    with op.batch_alter_table('not_scheduled', schema=None) as batch_op:
        batch_op.drop_index('ix_not_scheduled_line_start')
    op.drop_table('not_scheduled')
    with op.batch_alter_table('product_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_product_runs_line_start')
    op.drop_table('product_runs')
