"""The autopilot: a policy and state per run, the ranks' training losses, checkpoints.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "autopilot",
        sa.Column("run_id", sa.String(128), primary_key=True),
        sa.Column("policy", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
    )
    op.create_table(
        "losses",
        sa.Column("run_id", sa.String(128), primary_key=True),
        sa.Column("step", sa.BigInteger, primary_key=True),
        sa.Column("rank", sa.Integer, primary_key=True),
        sa.Column("value", sa.Double, nullable=False),
    )
    op.create_table(
        "checkpoints",
        sa.Column("run_id", sa.String(128), primary_key=True),
        sa.Column("step", sa.BigInteger, primary_key=True),
    )


def downgrade() -> None:
    for table in ("checkpoints", "losses", "autopilot"):
        op.drop_table(table)
