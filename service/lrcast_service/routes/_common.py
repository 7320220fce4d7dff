"""Helpers shared by the routers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query

from lrcast.schedules import Schedule

from ..domain import rules
from ..errors import spec_error
from ..models import MAX_STEP, RUN_ID_PATTERN

RunId = Annotated[str, Path(pattern=RUN_ID_PATTERN, description="[A-Za-z0-9._-]{1,128}")]
StepQ = Annotated[int, Query(ge=0, le=MAX_STEP)]
WaitQ = Annotated[float, Query(ge=0, le=3600, allow_inf_nan=False,
                               description="long-poll: seconds to wait for a pending plateau "
                                           "round (capped by the server, 60 s by default)")]
RankQ = Annotated[int | None, Query(ge=0, le=65535)]


def build_schedule(spec: dict[str, Any], field: str = "schedule") -> Schedule:
    """The spec's `Schedule`, or 422 naming ``schedule.<path>``."""
    try:
        return rules.schedule_of(spec)
    except Exception as exc:  # SpecError, and anything a malformed spec makes the engine raise
        raise spec_error(exc, field) from exc
