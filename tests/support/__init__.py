"""Helpers shared by every test suite: a real lrcast server in a subprocess (`server.py`)."""

from .server import LRCastServer, free_port, sqlite_url

__all__ = ["LRCastServer", "free_port", "sqlite_url"]
