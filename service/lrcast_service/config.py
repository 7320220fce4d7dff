"""Service settings, read from the environment (prefix ``LRCAST_``) with pydantic-settings.

Secrets never reach a repr, a log or a validation error: tokens are `SecretStr`, the database
URL (which may carry a password) is shown with its password hidden, and invalid values are
not echoed back (``hide_input_in_errors``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

__all__ = ["DATABASE_SCHEMES", "Settings"]

#: the database URL schemes the store serves (``postgresql://`` means psycopg 3)
DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres", "postgresql+psycopg")


class Settings(BaseSettings):
    """Everything the service can be told; every field is also ``LRCAST_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="LRCAST_", extra="ignore",
                                      hide_input_in_errors=True)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    #: SQLAlchemy URL: ``sqlite:///PATH`` or ``postgresql://USER:PASSWORD@HOST/DB``
    database: str = Field("sqlite:///./lrcast.db", repr=False)
    #: bearer tokens: comma-separated, or a JSON list; empty means no authentication
    tokens: Annotated[list[SecretStr], NoDecode] = []
    #: a file with one token per line (blank lines and ``#`` comments ignored)
    tokens_file: Path | None = None
    #: allow a non-loopback host with no tokens
    insecure: bool = False
    #: served steps are reserved this far ahead in one write (amendments start beyond)
    reserve_chunk: int = Field(256, ge=1, le=1_000_000)
    #: cap on the long-poll ``wait`` of LR queries, seconds
    max_wait: float = Field(60.0, ge=0)
    #: largest request body accepted, bytes
    max_body: int = Field(1 << 20, ge=1024)
    #: database connection pool size (PostgreSQL)
    pool_size: int = Field(10, ge=1)
    #: ``lrcast serve``'s log lines: plain text, or one JSON object per line
    log_format: Literal["plain", "json"] = "plain"
    #: one log line per HTTP request (``lrcast serve``)
    access_log: bool = True

    @field_validator("tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: Any) -> Any:
        """``a,b`` or ``["a", "b"]`` from the environment; a list as given in code."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                raise ValueError("is not a valid JSON list of tokens") from None
        return [t.strip() for t in text.split(",") if t.strip()]

    @field_validator("database")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        try:
            scheme = make_url(value).drivername
        except ArgumentError:
            raise ValueError("is not a database URL (sqlite:///PATH or "
                             "postgresql://USER:PASSWORD@HOST/DB)") from None
        if scheme not in DATABASE_SCHEMES:
            raise ValueError(f"scheme {scheme}:// is not supported; use sqlite:///PATH or "
                             "postgresql://USER:PASSWORD@HOST/DB")
        return value

    def token_list(self) -> list[str]:
        """Every configured token (from `tokens` and `tokens_file`)."""
        tokens = [t.get_secret_value() for t in self.tokens]
        if self.tokens_file is not None:
            for line in self.tokens_file.read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    tokens.append(line)
        return tokens

    def redacted_database(self) -> str:
        """The database URL with any password hidden, for messages and logs."""
        return make_url(self.database).render_as_string(hide_password=True)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        yield from super().__repr_args__()
        yield "database", self.redacted_database()
