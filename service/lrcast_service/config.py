"""Service settings, read from the environment (prefix ``LRCAST_``) with pydantic-settings."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the service can be told; every field is also ``LRCAST_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="LRCAST_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    #: SQLAlchemy URL; ``postgresql://`` is served by psycopg 3
    database: str = "sqlite:///./lrcast.db"
    #: bearer tokens, comma-separated; empty means no authentication
    tokens: str = ""
    #: a file with one token per line (blank lines and ``#`` comments ignored)
    tokens_file: Path | None = None
    #: allow a non-loopback host with no tokens
    insecure: bool = False
    #: served steps are reserved this far ahead in one write (amendments start beyond)
    reserve_chunk: int = Field(256, ge=1, le=1_000_000)
    #: default and maximum length of a lease, in steps
    lease_steps: int = Field(1000, ge=1)
    lease_max_steps: int = Field(100_000, ge=1)
    #: cap on the long-poll ``wait`` of LR queries, seconds
    max_wait: float = Field(60.0, ge=0)
    #: largest request body accepted, bytes
    max_body: int = Field(1 << 20, ge=1024)
    #: database connection pool size (PostgreSQL)
    pool_size: int = Field(10, ge=1)

    def token_list(self) -> list[str]:
        """Every configured token (from `tokens` and `tokens_file`)."""
        tokens = [t.strip() for t in self.tokens.split(",") if t.strip()]
        if self.tokens_file is not None:
            for line in self.tokens_file.read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    tokens.append(line)
        return tokens

    def redacted_database(self) -> str:
        """The database URL with any password hidden, for messages."""
        return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", self.database)
