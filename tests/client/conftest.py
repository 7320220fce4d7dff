"""Fixtures for the client tests: a real lrcast service on loopback (tests/support)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import pytest

import lrcast

_ids = itertools.count()

FAST_RETRIES = lrcast.Retries(attempts=2, backoff=0.02, max_backoff=0.1)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One real `lrcast serve` per test module, on a fresh SQLite file."""
    from tests.support import LRCastServer

    path = tmp_path_factory.mktemp("lrcast")
    server = LRCastServer(path / "lrcast.db", log_path=path / "server.log")
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def run_id(request: pytest.FixtureRequest) -> str:
    """A run id unique within the module's service."""
    return f"{re.sub(r'[^A-Za-z0-9._-]', '-', request.node.name)[:80]}-{next(_ids)}"


@pytest.fixture
def make_client(service: object) -> Iterator[object]:
    """`make_client(**kwargs)`: a `lrcast.Client` on the service, closed after the test."""
    clients: list[lrcast.Client] = []

    def make(**kwargs: object) -> lrcast.Client:
        kwargs.setdefault("retries", FAST_RETRIES)
        client = lrcast.Client(service.url, **kwargs)  # type: ignore[attr-defined]
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
