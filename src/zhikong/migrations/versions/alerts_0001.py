"""alerts

Revision ID: alerts_0001
Revises:
Create Date: 2026-11-27 04:24:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import zhikong.core.db

revision = 'alerts_0001'
down_revision = None
branch_labels = ('alerts',)
depends_on = ('0001_foundation', 'auth_0001', 'tasks_0001')


def upgrade() -> None:
    op.create_table('alert',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('crowd', 'no_mask', 'fever', 'quarantine_breach', 'device', 'intrusion', 'citizen_report', 'other', name='alertkind', native_enum=False, length=24), nullable=False),
    sa.Column('severity', sa.Enum('info', 'warning', 'critical', name='severity', native_enum=False, length=12), nullable=False),
    sa.Column('state', sa.Enum('new', 'acknowledged', 'confirmed', 'dismissed', name='alertstate', native_enum=False, length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('place_id', sa.Integer(), nullable=True),
    sa.Column('camera_code', sa.String(length=64), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('dedup_key', sa.String(length=128), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('occurred_at', zhikong.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', zhikong.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('snapshot_path', sa.String(length=255), nullable=True),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('handled_by_id', sa.Integer(), nullable=True),
    sa.Column('handled_at', zhikong.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('dismiss_reason', sa.Text(), nullable=True),
    sa.Column('created_at', zhikong.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['handled_by_id'], ['app_user.id'], name=op.f('fk_alert_handled_by_id_app_user')),
    sa.ForeignKeyConstraint(['place_id'], ['place.id'], name=op.f('fk_alert_place_id_place')),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], name=op.f('fk_alert_task_id_task')),
    sa.ForeignKeyConstraint(['unit_id'], ['admin_unit.id'], name=op.f('fk_alert_unit_id_admin_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert'))
    )
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.create_index('ix_alert_dedup_key_last_seen_at', ['dedup_key', 'last_seen_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_unit_id'), ['unit_id'], unique=False)

    op.create_table('alert_delivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('created_at', zhikong.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alert.id'], name=op.f('fk_alert_delivery_alert_id_alert'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_delivery')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_alert_delivery_idempotency_key'))
    )
    with op.batch_alter_table('alert_delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_delivery_alert_id'), ['alert_id'], unique=False)





def downgrade() -> None:
    with op.batch_alter_table('alert_delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_delivery_alert_id'))

    op.drop_table('alert_delivery')
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_unit_id'))
        batch_op.drop_index(batch_op.f('ix_alert_state'))
        batch_op.drop_index(batch_op.f('ix_alert_kind'))
        batch_op.drop_index('ix_alert_dedup_key_last_seen_at')

    op.drop_table('alert')
