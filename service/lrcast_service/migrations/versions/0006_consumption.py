"""consumption: what each step of a run consumed (samples, tokens), run-length, for sample and
token clocks and batch scaling (`core/consumption.py`). Existing runs have none.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consumption",
        sa.Column("run_id", sa.String(128), primary_key=True),
        sa.Column("from_step", sa.BigInteger, primary_key=True),
        sa.Column("samples", sa.BigInteger, nullable=True),
        sa.Column("tokens", sa.BigInteger, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("consumption")
