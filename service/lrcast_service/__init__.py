"""lrcast's HTTP service (the ``lrcast[service]`` extra): ``create_app(Settings())``."""

from .app import create_app
from .config import Settings
from .migrations import upgrade as upgrade_database

__all__ = ["Settings", "create_app", "upgrade_database"]
