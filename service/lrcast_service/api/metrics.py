"""Prometheus metrics, in a registry of the app's own (so several apps can live in one
process, as in tests); `middleware.MetricsMiddleware` counts every request, and the gauges
are read from the store and the live views at each scrape (`Gauges`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from lrcast import __version__

from ..runtime.live import LiveRuns


class Gauges(Collector):
    """The service's state at scrape time: runs and open rounds in the store (shared by all
    replicas), this replica's long-polls, the build."""

    def __init__(self, live: LiveRuns) -> None:
        self.live = live

    def collect(self) -> Iterator[GaugeMetricFamily]:
        runs, open_rounds = self.live.store.census()
        opened = self.live.rounds_opened(open_rounds)
        yield GaugeMetricFamily("lrcast_runs", "Runs in the store", value=runs)
        yield GaugeMetricFamily("lrcast_rounds_pending",
                                "Plateau rounds waiting for some rank's report",
                                value=len(open_rounds))
        yield GaugeMetricFamily(
            "lrcast_rounds_pending_oldest_seconds",
            "Age of the oldest pending round (since this replica first saw it open), 0 if none",
            value=time.time() - min(opened) if opened else 0.0)
        yield GaugeMetricFamily("lrcast_longpolls_waiting",
                                "LR queries of this replica waiting on a round",
                                value=self.live.longpolls)
        info = GaugeMetricFamily("lrcast_build_info", "Always 1; the lrcast version",
                                 labels=["version"])
        info.add_metric([__version__], 1.0)
        yield info


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

    def watch(self, live: LiveRuns) -> None:
        """Expose the gauges of `live` (and of its store)."""
        self.registry.register(Gauges(live))

    def render(self) -> bytes:
        """The exposition (reads the store: call it off the event loop)."""
        return generate_latest(self.registry)
