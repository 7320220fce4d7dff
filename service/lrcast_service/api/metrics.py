"""Prometheus metrics, in a registry of the app's own (so several apps can live in one
process, as in tests); `middleware.MetricsMiddleware` counts every request, and the gauges
are read from the store and the live views at each scrape (`Gauges`)."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

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


class Requests(Collector):
    """``lrcast_http_requests_total`` and ``lrcast_http_request_duration_seconds``: tallied in
    plain ints by `observe` and exposed as a counter and a histogram at each scrape.

    Not prometheus_client's `Counter` and `Histogram`: their children take a lock for every
    increment (three a request, ~1.5 us, a tenth of an LR answered on the fast path). Every
    request is observed on the event loop's thread, so the tallies need none; a scrape (on
    another thread) copies them under the GIL, and derives each histogram's count from its
    buckets so that the two always agree."""

    BUCKETS = (.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60)
    _LE = [*map(floatToGoString, BUCKETS), "+Inf"]

    def __init__(self) -> None:
        self._answered: dict[tuple[str, str, int], int] = {}
        #: per route: [sum of seconds, count per bucket..., count past the last bucket]
        self._latency: dict[str, list[float]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        answered = self._answered
        answered[key] = answered.get(key, 0) + 1
        latency = self._latency.get(route)
        if latency is None:
            latency = self._latency[route] = [0.0] * (len(self.BUCKETS) + 2)
        latency[0] += seconds
        latency[1 + bisect_left(self.BUCKETS, seconds)] += 1

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        requests = CounterMetricFamily("lrcast_http_requests", "HTTP requests answered",
                                       labels=["method", "route", "status"])
        for (method, route, status), count in list(self._answered.items()):
            requests.add_metric([method, route, str(status)], count)
        yield requests
        latency = HistogramMetricFamily("lrcast_http_request_duration_seconds",
                                        "Time to answer an HTTP request", labels=["route"])
        for route, tally in list(self._latency.items()):
            total, *counts = list(tally)
            latency.add_metric([route], list(zip(self._LE, accumulate(counts), strict=True)),
                               sum_value=total)
        yield latency


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Requests()
        self.registry.register(self.requests)
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
        #: count one answered request (on the event loop's thread: see `Requests`)
        self.observe = self.requests.observe

    def watch(self, live: LiveRuns) -> None:
        """Expose the gauges of `live` (and of its store)."""
        self.registry.register(Gauges(live))

    def render(self) -> bytes:
        """The exposition (reads the store: call it off the event loop)."""
        return generate_latest(self.registry)
