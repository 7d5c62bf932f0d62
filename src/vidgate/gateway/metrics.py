"""Prometheus metrics on a registry owned by one app (no process-wide globals).

Requests and latency are counted by the ASGI middleware below, per route template (so ids in
paths do not explode the label set). Jobs by status and spend are read from the database when
``/metrics`` is scraped, so every instance reports the same totals.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    """The gateway's metrics. ``collect_jobs`` and ``collect_spend`` are read at scrape time."""

    def __init__(
        self,
        *,
        collect_jobs: Callable[[], dict[str, int]],
        collect_spend: Callable[[], dict[str, float]],
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "vidgate_requests",
            "HTTP requests handled",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "vidgate_request_duration_seconds",
            "Time to the end of the response body",
            ("method", "route"),
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.polls = Counter(
            "vidgate_upstream_polls",
            "Status checks the poller sent to providers",
            ("provider", "outcome"),
            registry=self.registry,
        )
        self.registry.register(_DatabaseCollector(collect_jobs, collect_spend))


class _DatabaseCollector(Collector):
    def __init__(
        self,
        jobs: Callable[[], dict[str, int]],
        spend: Callable[[], dict[str, float]],
    ) -> None:
        self._jobs = jobs
        self._spend = spend

    def describe(self) -> Iterable[Metric]:
        # Described without querying, so registering needs no database.
        yield GaugeMetricFamily("vidgate_jobs", "Video jobs by status", labels=["status"])
        yield GaugeMetricFamily("vidgate_spend_usd", "Spend by public model", labels=["model"])

    def collect(self) -> Iterable[Metric]:
        jobs = GaugeMetricFamily("vidgate_jobs", "Video jobs by status", labels=["status"])
        counts = self._jobs()
        for status in ("queued", "in_progress", "completed", "failed"):
            jobs.add_metric([status], counts.get(status, 0))
        yield jobs
        spend = GaugeMetricFamily("vidgate_spend_usd", "Spend by public model", labels=["model"])
        for model, total in sorted(self._spend().items()):
            spend.add_metric([model], total)
        yield spend


class MetricsMiddleware:
    """Counts every HTTP request and its latency (to the last body byte)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            # FastAPI keeps an included router's own route (path without the include prefix);
            # put the ``/v1`` back so ``/v1/videos`` and ``/videos`` are told apart.
            if scope.get("path", "").startswith("/v1/") and not template.startswith("/v1"):
                template = "/v1" + template
            method = scope.get("method", "")
            self.metrics.requests.labels(method, template, str(status[0])).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - started)
