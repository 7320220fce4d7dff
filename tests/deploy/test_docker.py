"""The Docker image and the compose stack, built and run for real.

Builds the repository's `Dockerfile` on the local stand-in base image (these machines reach no
registry; see deploy/ci-docker-setup.sh), builds the load balancer from deploy/lb.Dockerfile,
starts `docker-compose.yml` with the deploy/compose.test.yml override (host networking, the
machine's PostgreSQL instead of the postgres container), drives a two-rank plateau job through
the load balancer with the real client, and tears everything down even when the test fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

import lrcast
from tests.deploy.plateau_job import run_ranks, torch_lrs
from tests.support.postgres import fresh_database, postgres_base_url
from tests.support.server import free_port

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGE = os.environ.get("LRCAST_TEST_BASE_IMAGE", "lrcast-base/python:3.11")
IMAGE = "lrcast:docker-test"
LB_IMAGE = "lrcast-lb:docker-test"
TOKEN = "docker-test-token"


def _docker_answers() -> str | None:
    """Why the Docker tests cannot run here, or None when they can."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    if info.returncode != 0:
        return "no Docker engine answers `docker info` (start one with deploy/ci-docker-setup.sh)"
    found = subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True)
    if found.returncode != 0:
        return f"base image {BASE_IMAGE} missing (build it with deploy/ci-docker-setup.sh)"
    return None


def _compose_command() -> list[str] | None:
    """`docker-compose` (v1, as start-dockerd.sh installs) or the `docker compose` plugin."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
    return ["docker", "compose"] if probe.returncode == 0 else None


def _run(cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 600,
         check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {done.returncode}:\n"
                             f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return done


@pytest.fixture(scope="module")
def docker_ready() -> None:
    reason = _docker_answers()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def postgres_database(docker_ready: None) -> Iterator[str]:
    """A fresh database of its own on the machine's PostgreSQL, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    server = postgres_base_url() or "postgresql://postgres@127.0.0.1:5432/test"
    try:
        with fresh_database(server) as url:
            yield url
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at {server}: {exc}")


@pytest.fixture(scope="module")
def images(docker_ready: None) -> None:
    """The service image from the real Dockerfile and the load balancer image."""
    base = ["--network=host", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}"]
    _run(["docker", "build", *base, "-t", IMAGE, "."])
    _run(["docker", "build", *base, "-f", "deploy/lb.Dockerfile", "-t", LB_IMAGE, "deploy"])


class Stack:
    """The compose project this test started: its ports, URLs and compose command."""

    def __init__(self, compose: list[str], env: dict[str, str], ports: dict[str, int]) -> None:
        self.compose, self.env, self.ports = compose, env, ports
        self.lb_url = f"http://127.0.0.1:{ports['lb']}"

    def __call__(self, *args: str, check: bool = True,
                 timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return _run([*self.compose, *args], env=self.env, check=check, timeout=timeout)

    def container(self, service: str) -> str:
        return self("ps", "-q", service).stdout.strip()


def _nginx_conf(ports: dict[str, int]) -> str:
    """The shipped deploy/nginx.conf with the compose service names replaced by loopback
    ports, since with host networking there is no container DNS."""
    text = (REPO / "deploy" / "nginx.conf").read_text()
    for service in ("lrcast-1", "lrcast-2"):
        assert f"{service}:8000" in text
        text = text.replace(f"{service}:8000", f"127.0.0.1:{ports[service]}")
    assert "listen 80;" in text
    return text.replace("listen 80;", f"listen 127.0.0.1:{ports['lb']};")


def _without_published_ports(path: Path) -> str:
    """The shipped compose file minus the load balancer's published port: Docker refuses
    port bindings with host networking, and an override file can add to `ports` but not
    remove from it. Everything else is the shipped file as it is."""
    config = yaml.safe_load(path.read_text())
    assert config["services"]["lb"].pop("ports") == ["127.0.0.1:8000:80"]
    return yaml.safe_dump(config, sort_keys=False)


@pytest.fixture(scope="module")
def stack(images: None, postgres_database: str, tmp_path_factory: pytest.TempPathFactory,
          ) -> Iterator[Stack]:
    compose = _compose_command()
    if compose is None:
        pytest.skip("neither docker-compose nor the `docker compose` plugin is installed")
    ports = {"lrcast-1": free_port(), "lrcast-2": free_port(), "lb": free_port()}
    workdir = tmp_path_factory.mktemp("compose")
    workdir.chmod(0o755)
    conf = workdir / "default.conf"
    conf.write_text(_nginx_conf(ports))
    conf.chmod(0o644)
    shipped = workdir / "docker-compose.yml"
    shipped.write_text(_without_published_ports(REPO / "docker-compose.yml"))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "COMPOSE_PROJECT_NAME": f"lrcast-test-{uuid.uuid4().hex[:8]}",
        "COMPOSE_FILE": os.pathsep.join([str(shipped),
                                         str(REPO / "deploy" / "compose.test.yml")]),
        "LRCAST_IMAGE": IMAGE,
        "LRCAST_TEST_LB_IMAGE": LB_IMAGE,
        "LRCAST_TEST_BASE_IMAGE": BASE_IMAGE,
        "LRCAST_TEST_NGINX_CONF": str(conf),
        "LRCAST_TEST_PORT_1": str(ports["lrcast-1"]),
        "LRCAST_TEST_PORT_2": str(ports["lrcast-2"]),
        "LRCAST_TEST_DATABASE": postgres_database,
        "LRCAST_TEST_PG_HOST": urlsplit(postgres_database).hostname or "127.0.0.1",
        "LRCAST_TEST_PG_PORT": str(urlsplit(postgres_database).port or 5432),
        "LRCAST_TOKENS": TOKEN,
        "POSTGRES_PASSWORD": "unused-in-tests",
    }
    s = Stack([*compose, "--project-directory", str(REPO)], env, ports)
    try:
        s("up", "-d", "--no-build")
        _wait_healthy(s.lb_url + "/healthz", timeout=60)
        yield s
    finally:
        if s("ps", check=False).returncode == 0:
            print(s("logs", "--no-color", "--tail", "50", check=False).stdout[-6000:])
        s("down", "-v", "--remove-orphans", "--timeout", "5", check=False)


def _wait_healthy(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return
            last = response.status_code
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"{url} not healthy after {timeout}s: {last}")


def test_image_runs_as_non_root_and_reports_healthy(stack: Stack) -> None:
    for service in ("lrcast-1", "lrcast-2"):
        container = stack.container(service)
        uid = _run(["docker", "exec", container, "id", "-u"]).stdout.strip()
        assert uid != "0"
        deadline = time.monotonic() + 30
        while True:
            state = json.loads(_run(["docker", "inspect", container]).stdout)[0]["State"]
            if state["Health"]["Status"] == "healthy" or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert state["Health"]["Status"] == "healthy", state["Health"]


def test_load_balancer_requires_a_token(stack: Stack) -> None:
    assert httpx.get(stack.lb_url + "/v1/runs", timeout=10).status_code == 401
    authorised = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.get(stack.lb_url + "/v1/runs", headers=authorised, timeout=10).status_code == 200


def test_plateau_job_through_the_load_balancer(stack: Stack) -> None:
    """Two ranks through nginx (which round-robins them over both replicas): identical LRs,
    equal to PyTorch's; then one replica is killed and the job finishes through the other."""
    rounds, world_size = 6, 2

    def kill_replica_once(rank: int, k: int) -> None:
        if rank == 0 and k == 2:
            stack("kill", "lrcast-1")

    def make_client(rank: int) -> lrcast.Client:
        return lrcast.Client(stack.lb_url, token=TOKEN)

    seen = run_ranks(make_client, f"docker-{uuid.uuid4().hex[:8]}", world_size, rounds,
                     kill_replica_once)
    expected = torch_lrs(rounds, world_size)
    assert seen[0] == seen[1]
    assert seen[0] == pytest.approx(expected, rel=1e-12, abs=0)
    assert min(expected) < max(expected)  # the plateau rule did reduce the LR
