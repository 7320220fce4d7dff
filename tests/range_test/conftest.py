"""Fixtures for the LR range test end to end: a real lrcast service on loopback."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `tests.support` lives at the repository root
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One real `lrcast serve` per module, on a fresh SQLite file."""
    from tests.support import LRCastServer

    path = tmp_path_factory.mktemp("range")
    with LRCastServer(path / "lrcast.db", log_path=path / "server.log") as server:
        yield server
