"""The initial schema: runs, schedule instances, segments, rounds, reports, decisions, events.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

RUN_ID = sa.String(128)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", RUN_ID, primary_key=True),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("world_size", sa.Integer, nullable=False),
        sa.Column("aggregate", sa.String(8), nullable=False),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("served_frontier", sa.BigInteger, nullable=False),
        sa.Column("progress", sa.Text, nullable=False),
        sa.Column("last_rewind", sa.Text, nullable=True),
    )
    op.create_table(
        "instances",
        sa.Column("run_id", RUN_ID, primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True),
        sa.Column("origin", sa.BigInteger, nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=True),
    )
    op.create_table(
        "segments",
        sa.Column("run_id", RUN_ID, primary_key=True),
        sa.Column("from_step", sa.BigInteger, primary_key=True),
        sa.Column("instance", sa.Integer, nullable=False),
        sa.Column("scale", sa.Double, nullable=False),
    )
    op.create_table(
        "rounds",
        sa.Column("run_id", RUN_ID, primary_key=True),
        sa.Column("step", sa.BigInteger, primary_key=True),
        sa.Column("decided", sa.Boolean, nullable=False),
        sa.Column("value", sa.Double, nullable=True),
        sa.Column("instance", sa.Integer, nullable=True),
        sa.Column("state", sa.Text, nullable=True),
        sa.Column("decided_at", sa.Double, nullable=True),
    )
    op.create_table(
        "reports",
        sa.Column("run_id", RUN_ID, primary_key=True),
        sa.Column("step", sa.BigInteger, primary_key=True),
        sa.Column("rank", sa.Integer, primary_key=True),
        sa.Column("value", sa.Double, nullable=False),
    )
    op.create_table(
        "decisions",
        sa.Column("run_id", RUN_ID, primary_key=True),
        sa.Column("instance", sa.Integer, primary_key=True),
        sa.Column("step", sa.BigInteger, primary_key=True),
        sa.Column("lrs", sa.Text, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("run_id", RUN_ID, nullable=False),
        sa.Column("time", sa.Double, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("ix_events_run_id_id", "events", ["run_id", "id"])


def downgrade() -> None:
    for table in ("events", "decisions", "reports", "rounds", "segments", "instances", "runs"):
        op.drop_table(table)
