"""audit: append without the chain lock, link after commit

Records get their ``id`` from a database counter when appended and their chain position ``seq``
when linked (see ``zhikong.audit.models``). Existing records keep their position (``seq = id``).

Revision ID: audit_0002
Revises: audit_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'audit_0002'
down_revision = 'audit_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_record', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('seal', sa.String(length=96), nullable=True))
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=True)
        batch_op.alter_column('hash', existing_type=sa.String(length=64), nullable=True)
    op.execute("UPDATE audit_record SET seq = id")
    with op.batch_alter_table('audit_record', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_audit_record_seq'), ['seq'])
        batch_op.create_unique_constraint(batch_op.f('uq_audit_record_seal'), ['seal'])
    op.create_index('ix_audit_record_pending', 'audit_record', ['id'], unique=False,
                    postgresql_where=sa.text('seq IS NULL'), sqlite_where=sa.text('seq IS NULL'))
    if op.get_bind().dialect.name == 'postgresql':
        # SQLite's INTEGER PRIMARY KEY numbers rows by itself; PostgreSQL needs a sequence
        op.execute("CREATE SEQUENCE audit_record_id_seq OWNED BY audit_record.id")
        op.execute("ALTER TABLE audit_record ALTER COLUMN id SET DEFAULT nextval('audit_record_id_seq')")
        op.execute("SELECT setval('audit_record_id_seq', coalesce(max(id), 0) + 1, false) FROM audit_record")


def downgrade() -> None:
    # the old scheme numbers records by their chain position: every record must be linked first
    pending = op.get_bind().execute(sa.text("SELECT count(*) FROM audit_record WHERE seq IS NULL")).scalar()
    if pending:
        raise RuntimeError(f"{pending} audit records are not linked yet: run `zhikong audit verify` first")
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("ALTER TABLE audit_record ALTER COLUMN id DROP DEFAULT")
        op.execute("DROP SEQUENCE audit_record_id_seq")
    op.drop_index('ix_audit_record_pending', table_name='audit_record')
    op.execute("UPDATE audit_record SET id = -seq")
    op.execute("UPDATE audit_record SET id = seq")
    with op.batch_alter_table('audit_record', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_audit_record_seal'), type_='unique')
        batch_op.drop_constraint(batch_op.f('uq_audit_record_seq'), type_='unique')
        batch_op.alter_column('hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column('seal')
        batch_op.drop_column('seq')
