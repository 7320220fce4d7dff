"""The barrier's long-polls on the raw path (`api/fast_longpoll.py`) answer as the FastAPI
route does: the LR once the round is decided, and 409 round_pending when the wait ends."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

from lrcast_service.api.auth import Auth
from lrcast_service.api.fast_longpoll import FastLongPoll
from lrcast_service.api.metrics import Metrics
from lrcast_service.migrations import upgrade
from lrcast_service.runtime.live import LiveRuns
from lrcast_service.store.sql import SqlStore
from tests.support import LRCastServer, sqlite_url

from ._specs import PLATEAU, run_body

#: a query key the route ignores and the fast paths do not take: the request goes to FastAPI
VIA_ROUTE = "&via=route"


async def _round(server: LRCastServer, run_id: str, suffix: str) -> list[tuple[int, bytes]]:
    """Two ranks long-poll round 10 of a 3-rank run; a third times out at round 20."""
    async with server.async_client() as client:
        path = f"/v1/runs/{run_id}"
        (await client.put(path, json=run_body(PLATEAU, world_size=3))).raise_for_status()
        await client.post(f"{path}/reports", json={"step": 10, "value": 1.0, "rank": 0})
        polls = [asyncio.ensure_future(client.get(f"{path}/lr?step={step}&rank={rank}"
                                                  f"&wait=20{suffix}"))
                 for step, rank in ((10, 0), (12, 1))]
        await asyncio.sleep(0.3)
        assert not any(p.done() for p in polls)
        for rank in (1, 2):
            await client.post(f"{path}/reports", json={"step": 10, "value": 2.0, "rank": rank})
        answers = [await asyncio.wait_for(p, 10) for p in polls]
        await client.post(f"{path}/reports", json={"step": 20, "value": 2.0, "rank": 0})
        answers.append(await client.get(f"{path}/lr?step=25&rank=2&wait=0.2{suffix}"))
        return [(r.status_code, r.content.replace(run_id.encode(), b"RUN")) for r in answers]


def test_long_polls_answer_as_the_route(server: LRCastServer) -> None:
    fast = asyncio.run(_round(server, f"t-{uuid.uuid4().hex[:12]}", ""))
    route = asyncio.run(_round(server, f"t-{uuid.uuid4().hex[:12]}", VIA_ROUTE))
    assert fast == route
    assert [status for status, _ in fast] == [200, 200, 409]
    decided, later, pending = (json.loads(body) for _, body in fast)
    assert decided["lr"] == later["lr"] == PLATEAU["lr"]  # the first round sets the best
    assert decided["version"] == 2  # the decision's
    assert pending["code"] == "round_pending" and pending["missing_ranks"] == [1, 2]


def test_fast_path_takes_the_long_polls_at_a_barrier(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "lrcast.db")
    upgrade(url)
    store = SqlStore(url)
    live = LiveRuns(store, reserve_chunk=256, max_wait=5)
    fast = FastLongPoll(live, Auth(["secret"]), Metrics())

    async def setup() -> None:
        await live.create("run", PLATEAU, 2, "mean", {})
        await live.report("run", 10, 0, 1.0)
    asyncio.run(setup())

    def taken(query: str, token: str = "secret") -> bool:
        scope: dict[str, Any] = {"type": "http", "method": "GET", "path": "/v1/runs/run/lr",
                                 "query_string": query.encode(),
                                 "headers": [(b"authorization", f"Bearer {token}".encode())]}
        return fast._takes(scope) is not None

    assert taken("step=10&rank=1&wait=5") and taken("step=11&wait=0.5")
    assert not taken("step=9&rank=1&wait=5")  # before the barrier: fast_lr's (or the route's)
    assert not taken("step=10&rank=1")  # no wait: the route's 409
    assert not taken("step=10&rank=2&wait=5")  # no such rank: the route's 422
    assert not taken("step=10&wait=5&via=route")
    assert not taken("step=10&wait=5", token="wrong")  # the route's 401
    store.close()
