"""runs.membership: the run's membership generations (elastic jobs, `core/membership.py`).

A JSON list of ``[epoch, from_step, world_size]``, oldest first; NULL (every run stored
before, and every run whose membership never changed) is generation 0 alone:
``[[0, 0, world_size]]``. ``runs.world_size`` stays the current generation's.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("membership", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("membership")
