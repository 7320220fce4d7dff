"""The Kubernetes manifests (deploy/kubernetes): every object validates against the Kubernetes
JSON schemas (kubernetes-validate bundles them: offline), the kustomization renders with the
optional components, and the objects fit together (selectors, probes, secrets, the image's
user) and with the real service (the probe paths answer, the migration command runs)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import sqlalchemy as sa
import yaml

from tests.support import LRCastServer, sqlite_url

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy" / "kubernetes"
COMPONENTS = sorted(p.parent for p in (BASE / "components").glob("*/kustomization.yaml"))
#: the oldest Kubernetes the manifests support, and the newest schema bundled
KUBERNETES_VERSIONS = ("1.27", "1.37")
#: custom resources (no schema in Kubernetes itself), checked field by field below
CUSTOM_KINDS = {"ServiceMonitor"}
SECRET_ENV = {"LRCAST_TOKENS": "tokens", "LRCAST_DATABASE": "database-url"}


def load(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def manifest_files() -> list[Path]:
    return sorted(p for p in BASE.rglob("*.yaml") if p.name != "kustomization.yaml")


OBJECTS = [(p.relative_to(BASE).as_posix(), obj) for p in manifest_files() for obj in load(p)]
SCHEMA_CHECKED = [(p, obj) for p, obj in OBJECTS if obj["kind"] not in CUSTOM_KINDS]


def only(kind: str) -> dict[str, Any]:
    found = [obj for _, obj in OBJECTS if obj["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A label selector of matchLabels only (the manifests use no matchExpressions)."""
    assert set(selector) <= {"matchLabels"}, selector
    return bool(selector["matchLabels"]) and selector["matchLabels"].items() <= labels.items()


@pytest.fixture(scope="module")
def deployment() -> dict[str, Any]:
    return only("Deployment")


@pytest.fixture(scope="module")
def pod(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return pod["spec"].get("initContainers", []) + pod["spec"]["containers"]


def server_container(pod: dict[str, Any]) -> dict[str, Any]:
    (found,) = [c for c in pod["spec"]["containers"] if c["name"] == "lrcast"]
    return found


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(("path", "obj"), SCHEMA_CHECKED,
                         ids=[f"{p}:{o['kind']}" for p, o in SCHEMA_CHECKED])
def test_manifest_validates_against_the_kubernetes_schema(path: str, obj: dict[str, Any],
                                                          version: str) -> None:
    kubernetes_validate.validate(obj, version, strict=True)  # raises naming the bad field


def test_the_schema_check_catches_a_broken_manifest(deployment: dict[str, Any]) -> None:
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["pth"] = "/"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


def test_the_kustomization_lists_every_manifest() -> None:
    """No manifest is forgotten by `kubectl apply -k` (the Secret example is kept out on
    purpose: its values are the operator's)."""
    for directory in [BASE, *COMPONENTS]:
        listed = set(load(directory / "kustomization.yaml")[0]["resources"])
        present = {p.name for p in directory.glob("*.yaml") if p.name != "kustomization.yaml"}
        present.discard("secret.example.yaml")
        assert listed == present, directory


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """`kubectl kustomize` of an overlay that takes the base and every optional component."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    overlay = tmp_path_factory.mktemp("overlay")
    base = os.path.relpath(BASE, overlay)  # kustomize accepts only relative paths
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump({
        "resources": [base],
        "components": [os.path.relpath(c, overlay) for c in COMPONENTS]}))
    out = subprocess.run([kubectl, "kustomize", str(overlay)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def test_kustomize_renders_every_object_valid(rendered: list[dict[str, Any]]) -> None:
    kinds = sorted(obj["kind"] for obj in rendered)
    assert kinds == sorted(o["kind"] for p, o in OBJECTS if p != "secret.example.yaml")
    for obj in rendered:
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "lrcast"
        if obj["kind"] not in CUSTOM_KINDS:
            kubernetes_validate.validate(obj, KUBERNETES_VERSIONS[-1], strict=True)
    (deployment,) = [obj for obj in rendered if obj["kind"] == "Deployment"]
    images = {c["image"] for c in containers(deployment["spec"]["template"])}
    assert images == {"lrcast:0.1.0"}  # the kustomization's `images:` pins the tag
    assert "replicas" not in deployment["spec"]  # with the autoscaler, it owns the count


def test_replicas_roll_without_losing_capacity(deployment: dict[str, Any]) -> None:
    spec = deployment["spec"]
    assert spec["replicas"] >= 2
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert selects(spec["selector"], spec["template"]["metadata"]["labels"])


def test_probes_point_at_healthz_and_readyz(pod: dict[str, Any]) -> None:
    server = server_container(pod)
    port_names = {p["name"] for p in server["ports"]}
    probes = {kind: server[kind]["httpGet"] for kind in
              ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes["livenessProbe"]["path"] == "/healthz"
    assert probes["startupProbe"]["path"] == "/healthz"
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert {probe["port"] for probe in probes.values()} <= port_names


def test_probe_paths_answer_on_a_real_server(pod: dict[str, Any],
                                             service: LRCastServer) -> None:
    server = server_container(pod)
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        response = httpx.get(service.url + server[kind]["httpGet"]["path"], timeout=5)
        assert response.status_code == 200, (kind, response.text)


def test_the_server_listens_on_all_interfaces_with_the_port_the_service_targets(
        pod: dict[str, Any]) -> None:
    server = server_container(pod)
    args = server["args"]
    assert args[0] == "serve"
    assert args[args.index("--host") + 1] == "0.0.0.0"
    (http,) = [p for p in server["ports"] if p["name"] == "http"]
    assert args[args.index("--port") + 1] == str(http["containerPort"])
    service = only("Service")
    assert selects({"matchLabels": service["spec"]["selector"]}, pod["metadata"]["labels"])
    assert {p["targetPort"] for p in service["spec"]["ports"]} == {"http"}


def test_tokens_and_database_come_from_the_secret(pod: dict[str, Any]) -> None:
    secret = only("Secret")
    server = server_container(pod)
    for container in containers(pod):
        for env in container.get("env", []):
            # nothing secret-looking is ever a literal value in the pod spec
            if re.search(r"TOKEN|DATABASE|PASSWORD", env["name"]):
                assert "value" not in env, (container["name"], env["name"])
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref is not None:
                assert ref["name"] == secret["metadata"]["name"]
                assert ref["key"] in secret["stringData"], ref
    server_env = {e["name"]: e["valueFrom"]["secretKeyRef"]["key"]
                  for e in server["env"] if "valueFrom" in e}
    assert server_env == SECRET_ENV
    assert "postgresql://" not in (BASE / "deployment.yaml").read_text()


def test_migrations_run_before_the_server_starts(pod: dict[str, Any],
                                                 tmp_path: Path) -> None:
    """The init container's command, run for real on a fresh database, leaves it migrated."""
    (migrate,) = pod["spec"]["initContainers"]
    assert migrate["image"] == server_container(pod)["image"]
    database = sqlite_url(tmp_path / "lrcast.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRCAST_")}
    env.update({e["name"]: database for e in migrate["env"]
                if e["name"] == "LRCAST_DATABASE"})
    out = subprocess.run([sys.executable, "-m", "lrcast", *migrate["args"]], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    engine = sa.create_engine(database)
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert "alembic_version" in tables and "runs" in tables, tables


def dockerfile_user() -> tuple[int, int]:
    (user,) = re.findall(r"^USER (\d+):(\d+)$", (ROOT / "Dockerfile").read_text(), re.M)
    return int(user[0]), int(user[1])


def test_pods_run_as_the_images_non_root_user_on_a_read_only_root(pod: dict[str, Any]) -> None:
    uid, gid = dockerfile_user()
    security = pod["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True
    assert (security["runAsUser"], security["runAsGroup"]) == (uid, gid)
    assert pod["spec"]["automountServiceAccountToken"] is False
    volumes = {v["name"] for v in pod["spec"]["volumes"]}
    for container in containers(pod):
        ctx = container["securityContext"]
        assert ctx["readOnlyRootFilesystem"] is True
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx["capabilities"]["drop"] == ["ALL"]
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]) and "memory" in resources["limits"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert {"/tmp", "/data"} <= set(mounts) and set(mounts.values()) <= volumes


def test_the_disruption_budget_selects_the_deployments_pods(deployment: dict[str, Any]) -> None:
    pdb = only("PodDisruptionBudget")["spec"]
    assert selects(pdb["selector"], deployment["spec"]["template"]["metadata"]["labels"])
    # a drain can always proceed: one replica may go while the others serve
    assert 1 <= pdb["minAvailable"] < deployment["spec"]["replicas"]


def test_the_autoscaler_scales_the_deployment(deployment: dict[str, Any]) -> None:
    hpa = only("HorizontalPodAutoscaler")["spec"]
    target = hpa["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert 2 <= hpa["minReplicas"] < hpa["maxReplicas"]


def test_the_service_monitor_scrapes_the_services_http_port() -> None:
    monitor = only("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    service = only("Service")
    assert selects(monitor["spec"]["selector"], service["metadata"]["labels"])
    port_names = {p["name"] for p in service["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in port_names and endpoint["path"] == "/metrics"

