"""enterprise risk marks (per keyed hash, looked up by registrations)

Revision ID: enterprise_0002
Revises: enterprise_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import zhikong.core.db

revision = 'enterprise_0002'
down_revision = 'enterprise_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('enterprise_risk_mark',
    sa.Column('pid', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('until_at', zhikong.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('refreshed_at', zhikong.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('pid', 'category', name=op.f('pk_enterprise_risk_mark'))
    )


def downgrade() -> None:
    op.drop_table('enterprise_risk_mark')
