"""Fixtures shared by the suites: a database URL per backend, and a real server on it."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:  # `tests.support` is imported from the repository root
    sys.path.append(ROOT)

from tests.support import TEST_TOKEN, LRCastServer, sqlite_url  # noqa: E402
from tests.support.postgres import postgres_database  # noqa: E402


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database per test module: a SQLite file, and a PostgreSQL database when
    LRCAST_TEST_POSTGRES_URL is set (skipped otherwise)."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path_factory.mktemp("db") / "lrcast.db")
        return
    with postgres_database("the PostgreSQL half of this suite") as url:
        yield url


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[LRCastServer]:
    """A real ``lrcast serve`` on a loopback port over the module's database (no tokens)."""
    with LRCastServer(database_url) as srv:
        yield srv


@pytest.fixture
def client(server: LRCastServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


@pytest.fixture
def run_id() -> str:
    """A run id unique to the test."""
    return f"t-{uuid.uuid4().hex[:16]}"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LRCastServer]:
    """One real ``lrcast serve`` per module on a fresh SQLite file, without authentication."""
    path = tmp_path_factory.mktemp("service")
    with LRCastServer(path / "lrcast.db", log_path=path / "server.log") as srv:
        yield srv


@pytest.fixture(scope="module")
def auth_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LRCastServer]:
    """One real ``lrcast serve`` per module that requires the bearer token `TEST_TOKEN`."""
    path = tmp_path_factory.mktemp("auth-service")
    with LRCastServer(path / "lrcast.db", tokens=[TEST_TOKEN],
                      log_path=path / "server.log") as srv:
        yield srv
