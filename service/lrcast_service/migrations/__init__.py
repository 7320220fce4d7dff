"""Alembic migrations, shipped inside the package; `upgrade` applies them programmatically."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from ..store.sql import make_engine

HERE = Path(__file__).resolve().parent


def upgrade(url: str) -> None:
    """Bring the database at `url` to the latest schema (idempotent; safe at every start)."""
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                # replicas starting together: one migrates, the others wait, then find it done
                conn.exec_driver_sql("SELECT pg_advisory_lock(7418264)")
            try:
                cfg = Config()
                cfg.set_main_option("script_location", str(HERE))
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                conn.commit()
            finally:
                if engine.dialect.name == "postgresql":
                    conn.exec_driver_sql("SELECT pg_advisory_unlock(7418264)")
                    conn.commit()
    finally:
        engine.dispose()
