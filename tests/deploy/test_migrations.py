"""Schema migrations keep the data of a database made by an older revision.

A database is brought to revision 0001 (the first schema) and filled the way the service of
that revision filled it: a plateau run with a decided round that reduced the LR. Then the real
``lrcast db upgrade`` command migrates it, and a real server on the upgraded database answers
the run with its history intact. Runs on SQLite always, and on PostgreSQL when configured.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

import lrcast_service.migrations as migrations
from lrcast_service.store.sql import make_engine
from tests.support import LRCastServer, sqlite_url
from tests.support.postgres import postgres_database

SPEC = {"type": "ReduceLROnPlateau", "lr": 0.1, "factor": 0.5, "patience": 0}


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "old.db")
        return
    with postgres_database("the PostgreSQL migration test") as url:
        yield url


def _upgrade_to(url: str, revision: str) -> None:
    """Alembic's own upgrade to `revision`, on the migrations the package ships."""
    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            cfg = Config()
            cfg.set_main_option("script_location", str(migrations.HERE))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        engine.dispose()


def _revision(url: str) -> str:
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
    finally:
        engine.dispose()


def _fill_revision_0001(url: str, run_id: str) -> None:
    """What the 0001 service stored for a one-rank plateau run reported at steps 0 and 10,
    the second report not improving (patience 0: the LR halves from step 10)."""
    engine = make_engine(url, pool_size=1)
    now = time.time()
    dumps = json.dumps
    state0 = {"lrs": [0.1], "best": 1.0, "num_bad_epochs": 0, "cooldown_counter": 0,
              "last_epoch": 1}
    state1 = {"lrs": [0.05], "best": 1.0, "num_bad_epochs": 0, "cooldown_counter": 0,
              "last_epoch": 2}
    try:
        with engine.begin() as conn:
            def insert(table: str, **values: object) -> None:
                cols = ", ".join(values)
                conn.execute(sa.text(f"INSERT INTO {table} ({cols}) VALUES "
                                     f"({', '.join(':' + k for k in values)})"), values)

            insert("runs", id=run_id, spec=dumps(SPEC), world_size=1, aggregate="mean",
                   metadata=dumps({"owner": "migration-test"}), created_at=now, version=3,
                   served_frontier=300, progress=dumps({"0": 10}), last_rewind=None)
            insert("instances", run_id=run_id, idx=0, origin=0, spec=dumps(SPEC),
                   state=dumps(state1))
            insert("segments", run_id=run_id, from_step=0, instance=0, scale=1.0)
            for step, value, state in ((0, 1.0, state0), (10, 1.0, state1)):
                insert("rounds", run_id=run_id, step=step, decided=True, value=value,
                       instance=0, state=dumps(state), decided_at=now)
                insert("reports", run_id=run_id, step=step, rank=0, value=value)
            insert("decisions", run_id=run_id, instance=0, step=10, lrs=dumps([0.05]))
            insert("events", run_id=run_id, time=now, kind="created",
                   data=dumps({"schedule": SPEC, "world_size": 1, "aggregate": "mean"}))
    finally:
        engine.dispose()


def test_upgrade_from_revision_0001_keeps_the_data(database_url: str, tmp_path: Path) -> None:
    run_id = "made-by-0001"
    _upgrade_to(database_url, "0001")
    assert _revision(database_url) == "0001"
    _fill_revision_0001(database_url, run_id)

    done = subprocess.run([sys.executable, "-m", "lrcast", "db", "upgrade", "--database",
                           database_url], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    head = sorted(p.name for p in (migrations.HERE / "versions").glob("[0-9]*.py"))[-1]
    assert _revision(database_url) == head.split("_")[0]

    with LRCastServer(database_url, log_path=tmp_path / "server.log") as server:
        run = httpx.get(f"{server.url}/v1/runs/{run_id}", timeout=10)
        assert run.status_code == 200, run.text
        assert run.json()["metadata"] == {"owner": "migration-test"}
        lr = {step: httpx.get(f"{server.url}/v1/runs/{run_id}/lr", params={"step": step},
                              timeout=10).json()["lr"] for step in (5, 10, 25)}
        assert lr == {5: 0.1, 10: 0.05, 25: 0.05}
        # the upgraded run goes on: an idempotent repeat, then a new round that reduces again
        again = httpx.post(f"{server.url}/v1/runs/{run_id}/reports", timeout=10,
                           json={"step": 10, "rank": 0, "value": 1.0})
        assert again.status_code == 200, again.text
        after = httpx.post(f"{server.url}/v1/runs/{run_id}/reports", timeout=10,
                           json={"step": 300, "rank": 0, "value": 2.0})
        assert after.status_code in (200, 201), after.text
        assert after.json()["lr"] == pytest.approx(0.025)
