"""audit

Revision ID: audit_0001
Revises:
Create Date: 2026-11-27 04:24:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import zhikong.core.db

revision = 'audit_0001'
down_revision = None
branch_labels = ('audit',)
depends_on = None


def upgrade() -> None:
    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head'))
    )
    op.create_table('audit_record',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('at', zhikong.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('subject_type', sa.String(length=32), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_record')),
    sa.UniqueConstraint('prev_hash', name=op.f('uq_audit_record_prev_hash'))
    )
    with op.batch_alter_table('audit_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_record_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_record_actor_id'), ['actor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_record_at'), ['at'], unique=False)

    op.bulk_insert(sa.table('audit_head', sa.column('id', sa.Integer()), sa.column('last_seq', sa.Integer()),
                            sa.column('last_hash', sa.String())),
                   [{'id': 1, 'last_seq': 0, 'last_hash': '0' * 64}])


def downgrade() -> None:
    with op.batch_alter_table('audit_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_record_at'))
        batch_op.drop_index(batch_op.f('ix_audit_record_actor_id'))
        batch_op.drop_index(batch_op.f('ix_audit_record_action'))

    op.drop_table('audit_record')
    op.drop_table('audit_head')
