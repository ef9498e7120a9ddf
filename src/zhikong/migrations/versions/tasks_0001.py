"""tasks

Revision ID: tasks_0001
Revises:
Create Date: 2026-11-27 04:24:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import zhikong.core.db

revision = 'tasks_0001'
down_revision = None
branch_labels = ('tasks',)
depends_on = ('0001_foundation', 'auth_0001')


def upgrade() -> None:
    op.create_table('task',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('contact_quarantine', 'arrival_verification', 'registration', 'concealment', 'video_alarm', 'fever', 'citizen_report', 'meeting_decision', 'other', name='taskkind', native_enum=False, length=24), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('priority', sa.Enum('urgent', 'high', 'normal', 'low', name='priority', native_enum=False, length=12), nullable=False),
    sa.Column('state', sa.Enum('created', 'assigned', 'signed_for', 'in_progress', 'submitted', 'returned', 'accepted', 'escalated', 'closed', name='taskstate', native_enum=False, length=16), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('subject_type', sa.Enum('none', 'person', 'place', 'alert', name='subjecttype', native_enum=False, length=12), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('batch_id', sa.String(length=36), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('deadline_at', zhikong.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('feedback', sa.Text(), nullable=True),
    sa.Column('escalated_at', zhikong.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('escalation_count', sa.Integer(), nullable=False),
    sa.Column('created_at', zhikong.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', zhikong.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', zhikong.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['app_user.id'], name=op.f('fk_task_created_by_id_app_user')),
    sa.ForeignKeyConstraint(['unit_id'], ['admin_unit.id'], name=op.f('fk_task_unit_id_admin_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task'))
    )
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_task_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_task_state'), ['state'], unique=False)
        batch_op.create_index('ix_task_state_deadline_at', ['state', 'deadline_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_task_unit_id'), ['unit_id'], unique=False)

    op.create_table('task_attachment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=32), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=255), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', zhikong.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], name=op.f('fk_task_attachment_task_id_task'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['app_user.id'], name=op.f('fk_task_attachment_uploaded_by_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_attachment'))
    )
    with op.batch_alter_table('task_attachment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_attachment_task_id'), ['task_id'], unique=False)

    op.create_table('task_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=24), nullable=False),
    sa.Column('from_state', sa.Enum('created', 'assigned', 'signed_for', 'in_progress', 'submitted', 'returned', 'accepted', 'escalated', 'closed', name='taskstate', native_enum=False, length=16), nullable=True),
    sa.Column('to_state', sa.Enum('created', 'assigned', 'signed_for', 'in_progress', 'submitted', 'returned', 'accepted', 'escalated', 'closed', name='taskstate', native_enum=False, length=16), nullable=False),
    sa.Column('from_unit_id', sa.Integer(), nullable=True),
    sa.Column('to_unit_id', sa.Integer(), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('at', zhikong.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['app_user.id'], name=op.f('fk_task_event_actor_id_app_user')),
    sa.ForeignKeyConstraint(['from_unit_id'], ['admin_unit.id'], name=op.f('fk_task_event_from_unit_id_admin_unit')),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], name=op.f('fk_task_event_task_id_task'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['to_unit_id'], ['admin_unit.id'], name=op.f('fk_task_event_to_unit_id_admin_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_event'))
    )
    with op.batch_alter_table('task_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_event_task_id'), ['task_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('task_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_event_task_id'))

    op.drop_table('task_event')
    with op.batch_alter_table('task_attachment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_attachment_task_id'))

    op.drop_table('task_attachment')
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_unit_id'))
        batch_op.drop_index('ix_task_state_deadline_at')
        batch_op.drop_index(batch_op.f('ix_task_state'))
        batch_op.drop_index(batch_op.f('ix_task_kind'))
        batch_op.drop_index(batch_op.f('ix_task_batch_id'))

    op.drop_table('task')
