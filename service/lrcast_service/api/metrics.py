"""Prometheus metrics, in a registry of the app's own (so several apps can live in one
process, as in tests); `middleware.MetricsMiddleware` counts every request."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


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
        self.spikes = Counter("lrcast_autopilot_spikes_total",
                              "Loss spikes the autopilot detected, by mode", ["mode"],
                              registry=self.registry)
        self.directives = Counter("lrcast_autopilot_directives_total",
                                  "Rewind directives the autopilot issued",
                                  registry=self.registry)
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
