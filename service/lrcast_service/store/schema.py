"""The tables (SQLAlchemy Core). Migrations in ``migrations/versions`` create them; this
module is what the store queries. JSON is stored as text so SQLite and PostgreSQL agree."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only

runs = sa.Table(
    "runs", metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("world_size", sa.Integer, nullable=False),
    sa.Column("aggregate", sa.String(8), nullable=False),
    sa.Column("metadata", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("served_frontier", sa.BigInteger, nullable=False),
    sa.Column("progress", sa.Text, nullable=False),
    sa.Column("last_rewind", sa.Text, nullable=True),
    # bumped by every write transaction on the run (migration 0002): replicas compare it with
    # their cached view in one primary-key read (see store/notify.py)
    sa.Column("seq", sa.BigInteger, nullable=False, server_default="0"),
    # the membership generations, [[epoch, from_step, world_size], ...] (migration 0005);
    # NULL: generation 0 alone, [[0, 0, world_size]] (core/membership.py)
    sa.Column("membership", sa.Text, nullable=True),
)

instances = sa.Table(
    "instances", metadata,
    sa.Column("run_id", sa.String(128), primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("origin", sa.BigInteger, nullable=False),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=True),
)

segments = sa.Table(
    "segments", metadata,
    sa.Column("run_id", sa.String(128), primary_key=True),
    sa.Column("from_step", sa.BigInteger, primary_key=True),
    sa.Column("instance", sa.Integer, nullable=False),
    sa.Column("scale", sa.Double, nullable=False),
)

rounds = sa.Table(
    "rounds", metadata,
    sa.Column("run_id", sa.String(128), primary_key=True),
    sa.Column("step", sa.BigInteger, primary_key=True),
    sa.Column("decided", sa.Boolean, nullable=False),
    sa.Column("value", sa.Double, nullable=True),
    sa.Column("instance", sa.Integer, nullable=True),
    # the instance's plateau state after this round, if it folded (rewind restores it)
    sa.Column("state", sa.Text, nullable=True),
    sa.Column("decided_at", sa.Double, nullable=True),
)

reports = sa.Table(
    "reports", metadata,
    sa.Column("run_id", sa.String(128), primary_key=True),
    sa.Column("step", sa.BigInteger, primary_key=True),
    sa.Column("rank", sa.Integer, primary_key=True),
    sa.Column("value", sa.Double, nullable=False),
)

decisions = sa.Table(
    "decisions", metadata,
    sa.Column("run_id", sa.String(128), primary_key=True),
    sa.Column("instance", sa.Integer, primary_key=True),
    sa.Column("step", sa.BigInteger, primary_key=True),
    sa.Column("lrs", sa.Text, nullable=False),
)

events = sa.Table(
    "events", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(128), nullable=False),
    sa.Column("time", sa.Double, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Index("ix_events_run_id_id", "run_id", "id"),
)

# a keyed write's answer (core/idempotency.py), kept in the write's own transaction (migration
# 0003); `scope` is the run written, or "" for POST /v1/runs
idempotency_keys = sa.Table(
    "idempotency_keys", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("scope", sa.String(128), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.UniqueConstraint("scope", "key", name="uq_idempotency_keys_scope_key"),
    sa.Index("ix_idempotency_keys_scope_created_at", "scope", "created_at"),
)

# the autopilot (migration 0004): its policy and state per run, the ranks' training losses,
# the announced checkpoints
autopilot = sa.Table(
    "autopilot", metadata,
    sa.Column("run_id", sa.String(128), primary_key=True),
    sa.Column("policy", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
)

losses = sa.Table(
    "losses", metadata,
    sa.Column("run_id", sa.String(128), primary_key=True),
    sa.Column("step", sa.BigInteger, primary_key=True),
    sa.Column("rank", sa.Integer, primary_key=True),
    sa.Column("value", sa.Double, nullable=False),
)

checkpoints = sa.Table(
    "checkpoints", metadata,
    sa.Column("run_id", sa.String(128), primary_key=True),
    sa.Column("step", sa.BigInteger, primary_key=True),
)

# what each step consumed (migration 0006, `core/consumption.py`): run-length entries, each
# amount in force until the next entry that names it (NULL: that amount continues)
consumption = sa.Table(
    "consumption", metadata,
    sa.Column("run_id", sa.String(128), primary_key=True),
    sa.Column("from_step", sa.BigInteger, primary_key=True),
    sa.Column("samples", sa.BigInteger, nullable=True),
    sa.Column("tokens", sa.BigInteger, nullable=True),
)

PER_RUN = (instances, segments, rounds, reports, decisions, events, autopilot, losses,
           checkpoints, consumption)
