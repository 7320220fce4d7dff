"""A fresh PostgreSQL database per test module, so suites running at the same time (and
earlier runs) never see each other's tables. Needs ``LRCAST_TEST_POSTGRES_URL``."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

ENV = "LRCAST_TEST_POSTGRES_URL"


def postgres_base_url() -> str | None:
    """The configured server URL (e.g. ``postgresql://postgres@127.0.0.1:5432/test``)."""
    return os.environ.get(ENV) or None


@contextmanager
def fresh_database(base_url: str) -> Iterator[str]:
    """Create an empty database on the server of `base_url`; yield its URL; drop it after."""
    import psycopg

    name = f"lrcast_t_{uuid.uuid4().hex[:12]}"
    admin = base_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    head, _, _ = base_url.rpartition("/")
    try:
        yield f"{head}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def postgres_database(needed_by: str) -> Iterator[str]:
    """A fresh database on the configured server (dropped after); skips the test, saying
    what `needed_by` it, when ``LRCAST_TEST_POSTGRES_URL`` is not set."""
    import pytest

    base = postgres_base_url()
    if base is None:
        pytest.skip(f"{needed_by} needs PostgreSQL: set {ENV} "
                    "(e.g. postgresql://postgres@127.0.0.1:5432/test)")
    with fresh_database(base) as url:
        yield url
