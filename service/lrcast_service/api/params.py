"""The path and query parameters shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from .models import MAX_STEP, RUN_ID_PATTERN

RunId = Annotated[str, Path(pattern=RUN_ID_PATTERN, description="[A-Za-z0-9._-]{1,128}")]
StepQ = Annotated[int, Query(ge=0, le=MAX_STEP)]
WaitQ = Annotated[float, Query(ge=0, le=3600, allow_inf_nan=False,
                               description="long-poll: seconds to wait for a pending plateau "
                                           "round (capped by the server, 60 s by default)")]
RankQ = Annotated[int | None, Query(ge=0, le=65535)]

