"""Fuzz the whole API from its own OpenAPI document (schemathesis) against a real service.

Every operation gets a bounded number of generated requests, valid and invalid, on SQLite and
PostgreSQL, without a token and with one. The run passes only if no request gets a 5xx and every
response conforms to the documented schema: status codes, content types, headers and bodies, a
request the schema allows is accepted, a request it forbids is refused.

Runs named in `SEEDED` exist before the fuzzing starts and are what most generated requests
address (schemathesis' dictionary binding), so the per-run operations reach past the 404; the
remaining requests use generated ids.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import TEST_TOKEN, LRCastServer

#: examples per operation and phase: enough to find each kind of fault, bounded for CI
MAX_EXAMPLES = int(os.environ.get("LRCAST_FUZZ_EXAMPLES", "25"))
SEED = int(os.environ.get("LRCAST_FUZZ_SEED", "20261201"))
#: checks that do not apply to this API, each with the reason
NOT_APPLICABLE = {
    # the API has no per-user objects: every token sees every run by design
    "object_level_authorization": "no per-user objects",
}

#: operations whose valid inputs depend on more than the schema can say, so a schema-valid
#: request may be refused 422 by design (positive_data_acceptance then also accepts 422 for
#: them; every other status it checks still counts), each with the reason
SEMANTIC_422 = {
    "PUT /v1/runs/{run_id}": "a spec's arguments depend on its type (the engine checks them)",
    "POST /v1/runs": "a spec's arguments depend on its type",
    "POST /v1/preview": "a spec's arguments depend on its type; stop > start",
    "POST /v1/runs/{run_id}/amendments": "a spec's arguments depend on its type",
    "GET /v1/runs/{run_id}/lr": "rank < the run's world_size",
    "POST /v1/runs/{run_id}/leases": "rank < the run's world_size",
    "POST /v1/runs/{run_id}/reports": "rank < the run's world_size",
    "GET /v1/runs/{run_id}/lrs": "stop > start, and at most 100,000 points",
    "POST /v1/runs/{run_id}/losses": "rank < the run's world_size",
    # and every write below: the generated Idempotency-Key values repeat across requests, and
    # one key sent with another request is 422 idempotency_key_reused (as Stripe's API does)
    "POST /v1/runs/{run_id}/rewind": "an Idempotency-Key reused for another request",
    "POST /v1/runs/{run_id}/checkpoints": "an Idempotency-Key reused for another request",
    "POST /v1/runs/{run_id}/membership": "an Idempotency-Key reused for another request",
    "POST /v1/runs/{run_id}/consumption": "an entry names samples or tokens (not null); an "
                                          "Idempotency-Key reused for another request",
    "DELETE /v1/runs/{run_id}": "an Idempotency-Key reused for another request",
}

SEEDED = {
    "fz-closed": {"schedule": {"type": "OneCycleLR", "max_lr": 0.1, "total_steps": 1000}},
    "fz-plateau": {"schedule": {"type": "ReduceLROnPlateau", "lr": 0.1, "patience": 1},
                   "world_size": 2},
    "fz-range": {"schedule": {"type": "LRRangeTest", "lr": 1e-5, "end_lr": 1.0,
                              "num_iter": 50}},
    "fz-piecewise": {"schedule": {"type": "PiecewiseLinear", "lr": 0.1,
                                  "points": [[0, 0.0], [10, 0.1], [100, 0.0]]}},
    "fz-token": {"schedule": {"type": "cosine", "lr": 3e-4, "num_warmup_steps": 10_000,
                              "num_training_steps": 1_000_000, "clock": "token",
                              "batch_scaling": "sqrt", "reference_batch_size": 64,
                              "batch": {"samples": 64, "tokens": 131072}}},
}


def _schemathesis() -> str:
    exe = shutil.which("st", path=str(Path(sys.executable).parent)) or shutil.which("st")
    if exe is None:
        pytest.skip("schemathesis is not installed (it is in the [dev] extra)")
    return exe


def _seed(server: LRCastServer) -> None:
    with server.client() as http:
        for run_id, body in SEEDED.items():
            answer = http.put(f"/v1/runs/{run_id}", json=body)
            assert answer.status_code in (200, 201), answer.text


def _config(tmp: Path) -> Path:
    path = tmp / "schemathesis.toml"
    values = json.dumps(sorted(SEEDED))
    path.write_text(
        "[dictionaries.run_ids]\n"
        f"values = {values}\n\n"
        "[parameters]\n"
        '"path.run_id" = { dictionary = "run_ids", probability = 0.8 }\n\n'
        "[[operations]]\n"
        f"include-name = {json.dumps(sorted(SEMANTIC_422))}\n"
        'checks.positive_data_acceptance.expected-statuses = '
        '["2xx", "401", "404", "409", "422"]\n')
    return path


def _fuzz(server: LRCastServer, tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """One schemathesis run over the server's own OpenAPI document, on one worker: with two,
    hypothesis' source introspection races in CPython 3.11's AST constructor ("AST
    constructor recursion depth mismatch"), a tool error unrelated to the service."""
    cmd = [_schemathesis(), "--config-file", str(_config(tmp)), "run",
           f"{server.url}/openapi.json", "--checks", "all",
           "--exclude-checks", ",".join(NOT_APPLICABLE),
           "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--workers", "1",
           "--generation-database", "none", "--request-timeout", "30", "--no-color",
           "--report", "ndjson", "--report-dir", str(tmp / "report"),
           *extra]
    if server.tokens:
        cmd += ["--header", f"Authorization: Bearer {server.tokens[0]}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEMATHESIS_")}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=420, env=env, cwd=tmp)


@pytest.fixture(scope="module", params=["open", "tokens"])
def fuzzed_server(request: pytest.FixtureRequest, database_url: str,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[LRCastServer]:
    tokens = [TEST_TOKEN] if request.param == "tokens" else []
    path = tmp_path_factory.mktemp("fuzz-server")
    # long-polls capped at 0.5 s: generated `wait`s reach the 60 s default cap, and a fuzzed
    # pending round is never completed, so every such request would wait it out
    with LRCastServer(database_url, tokens=tokens, log_path=path / "server.log",
                      env={"LRCAST_MAX_WAIT": "0.5"}) as srv:
        _seed(srv)
        yield srv


def _verdict(result: subprocess.CompletedProcess[str], server: LRCastServer) -> None:
    if result.returncode != 0:
        # the failures (with a curl line to reproduce each), then the summary
        out = result.stdout
        start = min((i for i in (out.find("ERRORS"), out.find("FAILURES")) if i >= 0),
                    default=-1)
        summary = out.find("SUMMARY")
        failures = out[start:summary] if start >= 0 else ""
        pytest.fail(f"schemathesis exited {result.returncode}\n{failures[:15000]}\n"
                    f"{out[summary:] if summary >= 0 else out[-4000:]}\n{result.stderr[-2000:]}")


@pytest.mark.slow
def test_every_operation_conforms(fuzzed_server: LRCastServer, tmp_path: Path) -> None:
    """All operations but DELETE (which would remove the seeded runs mid-way)."""
    _verdict(_fuzz(fuzzed_server, tmp_path, "--exclude-method", "DELETE"), fuzzed_server)


@pytest.mark.slow
def test_delete_conforms(fuzzed_server: LRCastServer, tmp_path: Path) -> None:
    _verdict(_fuzz(fuzzed_server, tmp_path, "--include-method", "DELETE"), fuzzed_server)
    _seed(fuzzed_server)  # put back what the deletions removed


def test_without_a_token_nothing_but_public_routes_answer(auth_service: LRCastServer) -> None:
    """The token is checked before anything else: 401 for every /v1 operation without it."""
    spec = httpx.get(auth_service.url + "/openapi.json", timeout=10).json()
    for path, operations in spec["paths"].items():
        if not path.startswith("/v1/"):
            continue
        url = auth_service.url + path.replace("{run_id}", "fz-closed")
        for method in operations:
            answer = httpx.request(method.upper(), url, timeout=10, content=b"{not json")
            assert answer.status_code == 401, (method, path, answer.status_code, answer.text)
            assert answer.json()["code"] == "unauthorized"
