"""Helpers shared by every test suite: a real lrcast server in a subprocess (`server.py`)."""

from .server import LRCastServer, free_port, sqlite_url

#: the bearer token of the `auth_service` fixture
TEST_TOKEN = "lrcast-test-token"

__all__ = ["TEST_TOKEN", "LRCastServer", "free_port", "sqlite_url"]
