"""Small values passed between the client's modules and returned to users."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Request:
    """One API call, built once and sent to whichever base URL answers."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    #: the long-poll the service may hold this request for, in seconds
    wait: float = 0.0
    ok: tuple[int, ...] = field(default=(200, 201, 204))


@dataclass(frozen=True)
class ReportResult:
    """The service's answer to a report, once its round is decided (or not, if not waited)."""

    step: int
    received: int
    expected: int
    decided: bool
    #: group 0's LR from `step` on, once decided
    lr: float | None
    version: int | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReportResult:
        return cls(step=int(data["step"]), received=int(data.get("received", 0)),
                   expected=int(data.get("expected", 0)), decided=bool(data.get("decided")),
                   lr=data.get("lr"), version=data.get("version"))
