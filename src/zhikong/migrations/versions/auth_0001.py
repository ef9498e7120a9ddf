"""auth

Revision ID: auth_0001
Revises:
Create Date: 2026-11-27 04:24:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import zhikong.core.db

revision = 'auth_0001'
down_revision = None
branch_labels = ('auth',)
depends_on = '0001_foundation'


def upgrade() -> None:
    op.create_table('app_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=64), nullable=False),
    sa.Column('role', sa.Enum('district_command', 'supervision', 'town_operator', 'village_operator', 'video_patroller', 'isolation_staff', 'enterprise_admin', 'system_admin', name='role', native_enum=False, length=24), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('on_duty', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', zhikong.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_login_at', zhikong.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', zhikong.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['admin_unit.id'], name=op.f('fk_app_user_unit_id_admin_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_user')),
    sa.UniqueConstraint('username', name=op.f('uq_app_user_username'))
    )
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_app_user_role'), ['role'], unique=False)
        batch_op.create_index(batch_op.f('ix_app_user_unit_id'), ['unit_id'], unique=False)

    op.create_table('api_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=12), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', zhikong.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', zhikong.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', zhikong.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', zhikong.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_api_token_user_id_app_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_token_token_hash'))
    )
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_token_user_id'), ['user_id'], unique=False)

    op.create_table('login_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('created_at', zhikong.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', zhikong.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', zhikong.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_login_session_user_id_app_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_session')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_login_session_token_hash'))
    )
    with op.batch_alter_table('login_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_session_user_id'), ['user_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('login_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_session_user_id'))

    op.drop_table('login_session')
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_token_user_id'))

    op.drop_table('api_token')
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_app_user_unit_id'))
        batch_op.drop_index(batch_op.f('ix_app_user_role'))

    op.drop_table('app_user')
