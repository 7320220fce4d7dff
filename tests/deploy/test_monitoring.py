"""Monitoring assets: the Prometheus alert rules (deploy/prometheus) pass `promtool check rules`
and their unit tests (`promtool test rules`), the Grafana dashboard (deploy/grafana) is a
well-formed dashboard, and every metric and label the two query is one a real ``lrcast serve``
exposes on /metrics after real traffic, parsed with prometheus_client's own parser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import promql_parser
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

import lrcast
from tests.support import LRCastServer

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "alerts.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "lrcast.json"

#: The gauges the dashboard and rules need that the service exposes (issue 15), with the
#: labels each carries. The one place these names are defined.
PROPOSED_GAUGES: dict[str, set[str]] = {
    "lrcast_runs": set(),  # runs in the store
    "lrcast_rounds_pending": set(),  # plateau rounds waiting for some rank's report
    "lrcast_rounds_pending_oldest_seconds": set(),  # age of the oldest of them, 0 if none
    "lrcast_longpolls_waiting": set(),  # LR queries of this replica waiting on a round
    "lrcast_build_info": {"version"},  # always 1; `version` is lrcast.__version__
}
#: series that Prometheus itself makes for every target, not the service
PROMETHEUS_SERIES = {"up"}
#: labels Prometheus attaches to every scraped series
TARGET_LABELS = {"job", "instance"}
#: Grafana's variables, given a value so that the queries parse as PromQL
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$job": "lrcast", "$instance": ".*"}
PLATEAU = {"type": "ReduceLROnPlateau", "lr": 0.1, "factor": 0.5, "patience": 1}


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    return path


def test_promtool_checks_the_rules() -> None:
    out = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_alert_is_unit_tested_by_promtool() -> None:
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {case["alertname"] for test in tests for case in test["alert_rule_test"]
             if case["exp_alerts"]}
    assert fired == alerts  # each alert has a case where it fires (and the file, quiet ones)
    out = subprocess.run([promtool(), "test", "rules", RULE_TESTS.name], cwd=RULE_TESTS.parent,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def rule_queries() -> list[str]:
    return [r["expr"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def dashboard_queries() -> list[str]:
    board = dashboard()
    queries = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":  # label_values(<selector>, <label>)
            (selector,) = re.findall(r"^label_values\((.*), \w+\)$", variable["definition"])
            queries.append(selector)
    return [as_promql(q) for q in queries]


def as_promql(query: str) -> str:
    """A Grafana query with its variables given values."""
    for name, value in GRAFANA_VARIABLES.items():
        query = query.replace(name, value)
    return query


@dataclass(frozen=True)
class Selector:
    metric: str
    #: label matchers, as (label, operator, value)
    matchers: tuple[tuple[str, str, str], ...]


def selectors(query: str) -> list[Selector]:
    """Every series selector in a PromQL query, from the PromQL parser's syntax tree."""
    found: list[Selector] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(Selector(node.name, tuple(
                (m.name, str(m.op).rsplit(".", 1)[-1], m.value) for m in node.matchers.matchers)))

    promql_parser.walk(promql_parser.parse(query), visit)
    return found


QUERIES = rule_queries() + dashboard_queries()
USED = [s for q in QUERIES for s in selectors(q)]


def test_the_dashboard_is_a_grafana_dashboard() -> None:
    board = dashboard()
    assert board["uid"] == "lrcast" and board["schemaVersion"] >= 36
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        pos = panel["gridPos"]
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24, panel["title"]
        mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not mine & cells, f"panel {panel['title']!r} overlaps another"
        cells |= mine
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}" and panel["targets"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "${datasource}"
                assert selectors(as_promql(target["expr"]))


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    """Request rate and latency by route and status, reports, plateau decisions, each gauge."""
    shown = {s.metric for q in dashboard_queries() for s in selectors(q)}
    assert {"lrcast_http_requests_total", "lrcast_http_request_duration_seconds_bucket",
            "lrcast_reports_total", "lrcast_plateau_decisions_total"} <= shown
    assert set(PROPOSED_GAUGES) <= shown
    grouped = " ".join(dashboard_queries())
    assert "sum by (route, status)" in grouped and "sum by (le, route)" in grouped


@dataclass
class Exposition:
    """What /metrics says: each sample name's label names and the samples themselves."""

    labels: dict[str, set[str]] = field(default_factory=dict)
    samples: dict[str, list[tuple[dict[str, str], float]]] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)

    @classmethod
    def scrape(cls, server: LRCastServer) -> Exposition:
        response = httpx.get(server.url + "/metrics", timeout=10)
        response.raise_for_status()
        out = cls()
        for family in text_string_to_metric_families(response.text):
            # a labelled family with no child yet has no sample: its names come from its type
            for suffix in SAMPLE_SUFFIXES.get(family.type, ("",)):
                out.labels.setdefault(family.name + suffix, set())
                out.types[family.name + suffix] = family.type
            for sample in family.samples:
                out.labels.setdefault(sample.name, set()).update(sample.labels)
                out.samples.setdefault(sample.name, []).append((sample.labels, sample.value))
                out.types[sample.name] = family.type
        return out

    def value(self, metric: str) -> float:
        return sum(value for _, value in self.samples[metric])


SAMPLE_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}


@dataclass
class Traffic:
    """/metrics scraped while a round was pending with a long-poll waiting on it, and after."""

    during: Exposition
    after: Exposition
    runs: int


def wait_until(predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture(scope="module")
def traffic(service: LRCastServer) -> Iterator[Traffic]:
    """Real requests of every kind the queries look at: probes, a 404, a plateau run decided
    at once (world size 1), and one of world size 2 whose round stays pending while an LR
    query long-polls it, until the second rank reports."""
    with service.client() as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
        assert client.get("/no-such-page").status_code == 404
        client.put("/v1/runs/mon-solo", json={"schedule": PLATEAU}).raise_for_status()
        assert client.post("/v1/runs/mon-solo/reports",
                           json={"step": 0, "value": 1.0}).json()["decided"] is True
        client.put("/v1/runs/mon-pair", json={"schedule": PLATEAU, "world_size": 2}
                   ).raise_for_status()
        client.post("/v1/runs/mon-pair/reports", json={"step": 0, "value": 1.0, "rank": 0}
                    ).raise_for_status()
        answers: list[httpx.Response] = []
        poll = threading.Thread(target=lambda: answers.append(client.get(
            "/v1/runs/mon-pair/lr", params={"step": 0, "wait": 20})))
        poll.start()
        try:
            wait_until(lambda: Exposition.scrape(service).value(
                "lrcast_longpolls_waiting") >= 1, timeout=10)
            time.sleep(0.2)  # the oldest pending round is measurably old
            during = Exposition.scrape(service)
        finally:
            client.post("/v1/runs/mon-pair/reports", json={"step": 0, "value": 2.0, "rank": 1}
                        ).raise_for_status()
            poll.join(timeout=30)
        assert [a.status_code for a in answers] == [200]
        runs = len(client.get("/v1/runs").json()["runs"])
    yield Traffic(during, Exposition.scrape(service), runs)


def test_every_metric_queried_is_exposed_or_a_proposed_gauge(traffic: Traffic) -> None:
    """No typo, no metric of another exporter: the names come from the service (or, for the
    gauges of issue 15, from PROPOSED_GAUGES) and from Prometheus itself (`up`)."""
    known = set(traffic.after.labels) | set(PROPOSED_GAUGES) | PROMETHEUS_SERIES
    assert {s.metric for s in USED} <= known


def test_the_labels_queried_are_the_metrics_labels(traffic: Traffic) -> None:
    for selector in USED:
        if selector.metric in PROMETHEUS_SERIES:
            labels: set[str] = set()
        elif selector.metric in traffic.after.labels:
            labels = traffic.after.labels[selector.metric]
        else:
            labels = PROPOSED_GAUGES[selector.metric]
        queried = {name for name, _, _ in selector.matchers}
        assert queried <= labels | TARGET_LABELS, (selector.metric, queried - labels)


def test_the_routes_and_statuses_queried_are_ones_the_service_reports(traffic: Traffic) -> None:
    """`route="/readyz"` is a route template the middleware really uses, and the status
    matchers match real status labels (so the 5xx and readiness rules are not vacuous)."""
    seen = traffic.after.samples["lrcast_http_requests_total"]
    routes = {labels["route"] for labels, _ in seen}
    for selector in USED:
        for name, op, value in selector.matchers:
            if name == "route" and op in ("Equal", "NotEqual"):
                assert value in routes, value
            if name == "status" and op == "Re":
                assert re.fullmatch(value, "503") and not re.fullmatch(value, "200")
    assert {"200", "404"} <= {labels["status"] for labels, _ in seen}


def test_the_counters_move_with_the_traffic(traffic: Traffic) -> None:
    after = traffic.after
    assert after.value("lrcast_reports_total") == 3  # three new reports were recorded
    decisions = {labels["reduced"]: v for labels, v in after.samples[
        "lrcast_plateau_decisions_total"]}
    assert decisions == {"false": 2.0}  # the first round of a plateau rule never reduces
    readyz = [v for labels, v in after.samples["lrcast_http_requests_total"]
              if labels["route"] == "/readyz" and labels["status"] == "200"]
    assert readyz and readyz[0] >= 1
    assert after.types["lrcast_http_request_duration_seconds_bucket"] == "histogram"


def proposed(exposition: Exposition, gauge: str) -> list[tuple[dict[str, str], float]]:
    """The gauge's samples, checked to be a gauge with its labels."""
    assert gauge in exposition.samples, f"{gauge} is not exposed (PROPOSED_GAUGES, issue 15)"
    assert exposition.types[gauge] == "gauge"
    for labels, _ in exposition.samples[gauge]:
        assert set(labels) == PROPOSED_GAUGES[gauge]
    return exposition.samples[gauge]


def test_runs_gauge_counts_the_runs(traffic: Traffic) -> None:
    assert [v for _, v in proposed(traffic.after, "lrcast_runs")] == [traffic.runs]


def test_rounds_pending_gauge_counts_the_open_round(traffic: Traffic) -> None:
    assert [v for _, v in proposed(traffic.during, "lrcast_rounds_pending")] == [1]
    assert [v for _, v in proposed(traffic.after, "lrcast_rounds_pending")] == [0]


def test_oldest_pending_round_gauge_ages(traffic: Traffic) -> None:
    (during,) = [v for _, v in proposed(traffic.during, "lrcast_rounds_pending_oldest_seconds")]
    assert 0.1 < during < 60
    (after,) = [v for _, v in proposed(traffic.after, "lrcast_rounds_pending_oldest_seconds")]
    assert after == 0


def test_longpolls_waiting_gauge_counts_the_waiting_query(traffic: Traffic) -> None:
    assert [v for _, v in proposed(traffic.during, "lrcast_longpolls_waiting")] == [1]
    assert [v for _, v in proposed(traffic.after, "lrcast_longpolls_waiting")] == [0]


def test_build_info_names_the_version(traffic: Traffic) -> None:
    assert proposed(traffic.after, "lrcast_build_info") == [({"version": lrcast.__version__},
                                                              1.0)]
