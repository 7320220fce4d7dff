"""Fixtures for the framework adapters: a `lrcast.Client` on a real service (tests/conftest.py).

Keras reads its backend once, at import: these tests run it on torch, so the variable is set
before any test module imports keras.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

import lrcast  # noqa: E402


@pytest.fixture
def lrcast_client(service: object) -> Iterator[lrcast.Client]:
    """A `lrcast.Client` on the module's service, closed after the test."""
    client = lrcast.Client(service.url,  # type: ignore[attr-defined]
                           retries=lrcast.Retries(attempts=2, backoff=0.02, max_backoff=0.1))
    yield client
    client.close()
