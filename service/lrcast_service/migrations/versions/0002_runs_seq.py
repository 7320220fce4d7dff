"""runs.seq: a change counter bumped by every write transaction on a run.

Replicas sharing one PostgreSQL database cache each run's evaluated view; before answering
past a plateau barrier a replica compares its cached ``seq`` with the database's in one
primary-key read, so a report acknowledged by another replica is never missed (see
``lrcast_service/store/notify.py``). Existing runs start at 0.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("seq")
