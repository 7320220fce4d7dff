"""idempotency_keys: the answer of each write that carried an Idempotency-Key.

A retry with the same key and request gets the kept answer instead of a second execution
(``lrcast_service/core/idempotency.py``). Rows are written in the write's own transaction;
`scope` is the run written ("" for ``POST /v1/runs``), and (scope, key) is unique, so two
replicas racing on one key commit one write.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("scope", sa.String(128), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.UniqueConstraint("scope", "key", name="uq_idempotency_keys_scope_key"),
    )
    op.create_index("ix_idempotency_keys_scope_created_at", "idempotency_keys",
                    ["scope", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_scope_created_at", "idempotency_keys")
    op.drop_table("idempotency_keys")
