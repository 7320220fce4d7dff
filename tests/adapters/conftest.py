"""Fixtures for the framework adapters: one real service for the whole directory (each
framework's modules are slow enough to import; one server start is enough), a `lrcast.Client`.

Keras reads its backend once, at import: these tests run it on torch, so the variable is set
before any test module imports keras.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

import lrcast  # noqa: E402
from tests.support import LRCastServer  # noqa: E402


@pytest.fixture(scope="package")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LRCastServer]:
    """One real ``lrcast serve`` for the adapter tests, on a fresh SQLite file."""
    path = tmp_path_factory.mktemp("adapters-service")
    with LRCastServer(path / "lrcast.db", log_path=path / "server.log") as srv:
        yield srv


@pytest.fixture
def lrcast_client(service: LRCastServer) -> Iterator[lrcast.Client]:
    """A `lrcast.Client` on the service, closed after the test."""
    client = lrcast.Client(service.url,
                           retries=lrcast.Retries(attempts=2, backoff=0.02, max_backoff=0.1))
    yield client
    client.close()
