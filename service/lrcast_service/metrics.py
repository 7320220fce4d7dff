"""Prometheus metrics, in a registry of the app's own (so several apps can live in one
process, as in tests), and the ASGI middleware that counts every request by route template."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

Scope = dict[str, Any]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("lrcast_http_requests_total", "HTTP requests answered",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("lrcast_http_request_duration_seconds",
                                 "Time to answer an HTTP request", ["route"],
                                 registry=self.registry,
                                 buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5,
                                          1, 2.5, 5, 10, 30, 60))
        self.reports = Counter("lrcast_reports_total", "Plateau reports recorded (new ones)",
                               registry=self.registry)
        self.decisions = Counter("lrcast_plateau_decisions_total",
                                 "Plateau rounds decided, by whether the LRs were reduced",
                                 ["reduced"], registry=self.registry)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:  # labelled children are cached: .labels() is slow for a hot path
            children = self._children[key] = (self.requests.labels(method, route, str(status)),
                                              self.latency.labels(route))
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts each HTTP request under its route template (``/v1/runs/{run_id}/lr``), never the
    raw path; unmatched paths count as ``unmatched``."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            template = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe(scope["method"], template, status, time.perf_counter() - start)
