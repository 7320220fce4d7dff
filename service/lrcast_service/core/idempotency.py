"""Idempotency keys, as Stripe's API has them: what a key means, pure.

A write that carries an ``Idempotency-Key`` is executed once. Its answer (status and body) is
kept with the key, in the write's own transaction; a retry with the same key and the same
request (method, path and the body's SHA-256: its `fingerprint`) gets that answer again, and
the same key on another request is refused (`KeyReused`). Keys belong to a scope (the run
written, or ``""`` for ``POST /v1/runs``) and are kept `TTL` seconds, and at most `KEEP` per
scope (the newest); older ones are dropped lazily by the next keyed write to the scope. Only
writes that succeeded keep their key: a refused write wrote nothing, so its retry is simply
executed again.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .errors import DomainError, Invalid

__all__ = [
    "HEADER",
    "KEEP",
    "MAX_KEY_LENGTH",
    "TTL",
    "Answer",
    "KeyInFlight",
    "KeyReused",
    "KeyedRequest",
    "check_key",
    "expired",
    "fingerprint",
    "replay",
]

HEADER = "Idempotency-Key"
#: how long a key is kept (Stripe keeps them 24 hours)
TTL = 24 * 3600.0
#: at most this many keys per scope (a run's keys; a job's retries need only the recent ones)
KEEP = 10_000
MAX_KEY_LENGTH = 255
_KEY = re.compile(r"[\x21-\x7e]+")  # printable ASCII without spaces: a UUID fits, so does a ULID


class KeyReused(DomainError):
    """The key was already used for another request in its scope."""

    def __init__(self, key: str, method: str, path: str) -> None:
        super().__init__(f"{HEADER} {key!r} was already used for a request other than this "
                         f"{method} {path} (another method, path or body); use a fresh key "
                         "per write", key=key)


class KeyInFlight(DomainError):
    """A request with the key is still being executed (and did not finish in time)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"a request with {HEADER} {key!r} is still in flight; retry later",
                         key=key)


@dataclass(frozen=True)
class KeyedRequest:
    """A write with its key: `scope` and `key` name it, `fingerprint` says what it asked."""

    scope: str
    key: str
    method: str
    path: str
    fingerprint: str


@dataclass(frozen=True)
class Answer:
    """A keyed write's answer as kept: replayed as is to a retry."""

    fingerprint: str
    status: int
    body: bytes
    created_at: float


def check_key(key: str) -> str:
    """The key if well formed, else `Invalid` naming the header."""
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not _KEY.fullmatch(key):
        raise Invalid(HEADER, f"1 to {MAX_KEY_LENGTH} printable ASCII characters, no spaces")
    return key


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What a retry must repeat: the method, the path and the body's bytes."""
    digest = hashlib.sha256(f"{method.upper()} {path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def expired(answer: Answer, now: float) -> bool:
    return now - answer.created_at >= TTL


def replay(kept: Answer | None, request: KeyedRequest, now: float) -> Answer | None:
    """The answer to replay for `request`, or None to execute it (no live key for it);
    `KeyReused` if its key was used for another request."""
    if kept is None or expired(kept, now):
        return None
    if kept.fingerprint != request.fingerprint:
        raise KeyReused(request.key, request.method, request.path)
    return kept
