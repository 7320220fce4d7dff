"""Bearer tokens: every ``/v1`` call needs ``Authorization: Bearer <token>`` when tokens are
configured. Compared in constant time; neither tokens nor the header are ever logged."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

__all__ = ["Auth", "authorization"]


def authorization(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """The request's Authorization header: the first one, as every path that checks the
    token reads it (the gate and the fast paths must agree on a request that sends two)."""
    return next((value for name, value in headers if name == b"authorization"), None)


class Auth:
    def __init__(self, tokens: list[str]) -> None:
        self._tokens = [t.encode() for t in tokens]

    @property
    def enabled(self) -> bool:
        return bool(self._tokens)

    def allows(self, header: bytes | None) -> bool:
        """True if the Authorization header value carries a configured token."""
        if not self._tokens:
            return True
        if not header or not header[:7].lower() == b"bearer ":
            return False
        given = header[7:].strip()
        ok = False
        for token in self._tokens:  # no early exit: the time does not tell which matched
            ok |= hmac.compare_digest(given, token)
        return ok
