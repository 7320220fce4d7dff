"""The path and query parameters of the routers: every integer bounded so that it fits the
store's 64-bit columns, every string one the store can hold (no NUL)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from .models import MAX_STEP, RUN_ID_PATTERN

#: the largest id or step the store holds (PostgreSQL bigint, SQLite's integer)
MAX_INT64 = 2**63 - 1

RunId = Annotated[str, Path(pattern=RUN_ID_PATTERN, description="[A-Za-z0-9._-]{1,128}")]
StepQ = Annotated[int, Query(ge=0, le=MAX_STEP)]
WaitQ = Annotated[float, Query(ge=0, le=3600, allow_inf_nan=False,
                               description="long-poll: seconds to wait for a pending plateau "
                                           "round (capped by the server, 60 s by default)")]
RankQ = Annotated[int | None, Query(ge=0, le=65535)]
EpochQ = Annotated[int | None, Query(ge=0, le=MAX_STEP, description=(
    "the rank's membership epoch: older than the run's is 409 stale_membership; newer is "
    "answered as to an observer (no rank, no progress) until the change is made (none: not "
    "checked)"))]

StopQ = Annotated[int, Query(ge=1, le=MAX_STEP)]
StrideQ = Annotated[int, Query(ge=1, le=MAX_STEP)]
EventAfterQ = Annotated[int, Query(ge=0, le=MAX_INT64, description="an event id: `next` "
                                                                     "of the previous page")]
StepAfterQ = Annotated[int, Query(ge=-1, le=MAX_STEP, description="a step: `next` of the "
                                                                  "previous page")]
RunAfterQ = Annotated[str | None, Query(pattern=RUN_ID_PATTERN, description="a run id: "
                                        "`next` of the previous page")]
