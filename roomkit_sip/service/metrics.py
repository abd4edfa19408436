# -*- test-case-name: tests.service.test_metrics -*-
"""
C{/metrics}: the service in Prometheus text format 0.0.4.

Values are read when Prometheus scrapes, from the objects that own them (the
observer's call counts, the engine's C{stats()}, the webhook poster), through
one custom collector in a registry private to the service: nothing is copied
into metric objects on the call path, and two services in one process (tests)
never share a metric.  C{prometheus_client} writes the format (names,
C{HELP}/C{TYPE} lines, label escaping); its own Twisted resource is not used
because it renders on a thread pool, and engine state may only be read on the
reactor thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from twisted.logger import Logger

from roomkit_sip._version import __version__
from roomkit_sip.service.observer import CallObserver
from roomkit_sip.service.state import ServiceState

#: The Content-Type of the text format this module writes.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Keys read from C{SIPEngine.stats()}: calls refused, by SIP status, and
#: digest authentication failures.
ENGINE_REJECTED = "rejected"
ENGINE_AUTH_FAILURES = "auth_failures"


class ServiceCollector:
    """
    Every metric of the service, computed at scrape time.

    @param engine_stats: C{SIPEngine.stats}; a failure is logged and the
        engine's metrics are left out of that scrape.
    @param webhooks: the L{WebhookPoster}, if C{--webhook} is set.
    """

    _log = Logger()

    def __init__(
        self,
        observer: CallObserver,
        engine_stats: Callable[[], Mapping[str, Any]],
        state: ServiceState,
        webhooks: Any = None,
    ) -> None:
        self._observer = observer
        self._engine_stats = engine_stats
        self._state = state
        self._webhooks = webhooks

    def collect(self) -> Iterator[Metric]:
        yield _gauge("roomkit_sip_info", "Version of roomkit-sip.", 1, version=__version__)
        yield _gauge(
            "roomkit_sip_draining",
            "1 while stopping: new calls get 503, live calls may finish.",
            1 if self._state.draining else 0,
        )
        observer = self._observer
        live = observer.live_calls()
        yield _gauge("roomkit_sip_calls_active", "Answered calls not yet ended.", len(live))
        yield _counter("roomkit_sip_calls", "Calls answered since start.", observer.answered)
        ended = CounterMetricFamily(
            "roomkit_sip_calls_ended", "Calls ended, by disconnect reason.", labels=["reason"]
        )
        for reason, count in sorted(observer.ended_by_reason.items()):
            ended.add_metric([reason], count)
        yield ended
        yield from self._engine_metrics()
        totals = observer.rtp_totals()
        yield _counter(
            "roomkit_sip_rtp_packets_received", "RTP packets received.", totals["packets_in"]
        )
        yield _counter("roomkit_sip_rtp_packets_sent", "RTP packets sent.", totals["packets_out"])
        yield _counter(
            "roomkit_sip_rtp_packets_lost",
            "RTP packets lost on the way in (RFC 3550 cumulative loss).",
            totals["lost"],
        )
        jitter = observer.live_jitter_ms()
        yield _gauge(
            "roomkit_sip_rtp_jitter_mean_seconds",
            "Mean interarrival jitter of live calls (RFC 3550 A.8).",
            sum(jitter) / len(jitter) / 1000 if jitter else 0,
        )
        yield _gauge(
            "roomkit_sip_rtp_jitter_max_seconds",
            "Highest interarrival jitter among live calls.",
            max(jitter) / 1000 if jitter else 0,
        )
        yield _counter("roomkit_sip_dtmf", "DTMF key presses received.", observer.dtmf)
        if self._webhooks is not None:
            yield from self._webhook_metrics()

    def _engine_metrics(self) -> Iterator[Metric]:
        try:
            stats = self._engine_stats()
            rejected = dict(stats.get(ENGINE_REJECTED) or {})
            auth_failures = stats.get(ENGINE_AUTH_FAILURES, 0)
        except Exception:
            self._log.failure("engine stats() failed; engine metrics left out")
            return
        family = CounterMetricFamily(
            "roomkit_sip_calls_rejected",
            "INVITEs refused, by SIP status (486 busy, 488 no common codec, 503 full or "
            "draining, ...).",
            labels=["status"],
        )
        for status, count in sorted(rejected.items(), key=lambda item: str(item[0])):
            family.add_metric([str(status)], count)
        yield family
        yield _counter(
            "roomkit_sip_auth_failures", "Digest authentication failures.", auth_failures
        )

    def _webhook_metrics(self) -> Iterator[Metric]:
        poster = self._webhooks
        yield _gauge(
            "roomkit_sip_webhook_queue", "Call events waiting for delivery.", poster.queued
        )
        yield _counter(
            "roomkit_sip_webhook_delivered", "Call events the receiver accepted.", poster.delivered
        )
        yield _counter("roomkit_sip_webhook_dropped", "Call events given up on.", poster.dropped)
        yield _counter(
            "roomkit_sip_webhook_retries", "Delivery attempts after the first.", poster.retries
        )


def make_registry(collector: ServiceCollector) -> CollectorRegistry:
    """A registry holding only C{collector} (no process or platform metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The scrape body."""
    return generate_latest(registry)


def _gauge(name: str, documentation: str, value: float, **labels: str) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=list(labels))
    family.add_metric(list(labels.values()), value)
    return family


def _counter(name: str, documentation: str, value: float) -> Metric:
    return CounterMetricFamily(name, documentation, value=value)
