"""Durable state behind one interface (`base.Store`), implemented with SQLAlchemy Core."""

from .base import Store
from .sql import SqlStore, normalize_url

__all__ = ["SqlStore", "Store", "normalize_url"]
