"""/metrics content: names, types, values read at scrape time, label escaping."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip._version import __version__
from roomkit_sip.engine.handler import CallHandler
from roomkit_sip.service.metrics import ServiceCollector, make_registry, render
from roomkit_sip.service.observer import CallObserver
from roomkit_sip.service.state import DRAINING, SERVING, ServiceState
from tests.service._fakes import FakeCall, dtmf


class _Poster:
    queued, delivered, dropped, retries = 4, 10, 2, 7


def scrape(registry) -> dict[str, dict]:
    """{family name: {"type":, "help":, "samples": {(name, labels): value}}}."""
    text = render(registry).decode()
    families = {}
    for family in text_string_to_metric_families(text):
        families[family.name] = {
            "type": family.type,
            "help": family.documentation,
            "samples": {
                (s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples
            },
        }
    return families


class CollectorTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.observer = CallObserver(CallHandler(), self.clock)
        self.state = ServiceState()
        self.engine = {"rejected": {503: 2, 486: 1}, "auth_failures": 5}
        self.registry = make_registry(
            ServiceCollector(self.observer, lambda: self.engine, self.state)
        )

    def value(self, families: dict, name: str, sample: str | None = None, **labels: str) -> float:
        return families[name]["samples"][(sample or name, tuple(sorted(labels.items())))]

    def test_every_metric_with_help_and_type(self) -> None:
        families = scrape(self.registry)
        expected = {
            "roomkit_sip_info": "gauge",
            "roomkit_sip_draining": "gauge",
            "roomkit_sip_calls_active": "gauge",
            "roomkit_sip_calls": "counter",
            "roomkit_sip_calls_ended": "counter",
            "roomkit_sip_calls_rejected": "counter",
            "roomkit_sip_auth_failures": "counter",
            "roomkit_sip_rtp_packets_received": "counter",
            "roomkit_sip_rtp_packets_sent": "counter",
            "roomkit_sip_rtp_packets_lost": "counter",
            "roomkit_sip_rtp_jitter_mean_seconds": "gauge",
            "roomkit_sip_rtp_jitter_max_seconds": "gauge",
            "roomkit_sip_dtmf": "counter",
        }
        self.assertEqual({n: f["type"] for n, f in families.items()}, expected)
        for family in families.values():
            self.assertTrue(family["help"])
        self.assertEqual(self.value(families, "roomkit_sip_info", version=__version__), 1)

    def test_text_format_lines(self) -> None:
        text = render(self.registry).decode()
        self.assertIn("# HELP roomkit_sip_calls_total Calls answered since start.\n", text)
        self.assertIn("# TYPE roomkit_sip_calls_total counter\n", text)
        self.assertIn('roomkit_sip_calls_rejected_total{status="503"} 2.0\n', text)

    def test_values_follow_the_calls(self) -> None:
        a = FakeCall(stats={"packets_in": 100, "packets_out": 99, "lost": 1, "jitter_ms": 4.0})
        b = FakeCall(stats={"packets_in": 50, "packets_out": 50, "lost": 0, "jitter_ms": 2.0})
        self.observer.call_answered(a)
        self.observer.call_answered(b)
        self.observer.dtmf_received(a, dtmf("1"))
        families = scrape(self.registry)
        counter = "{}_total"
        self.assertEqual(self.value(families, "roomkit_sip_calls_active"), 2)
        self.assertEqual(
            self.value(families, "roomkit_sip_calls", counter.format("roomkit_sip_calls")), 2
        )
        received = "roomkit_sip_rtp_packets_received"
        self.assertEqual(self.value(families, received, counter.format(received)), 150)
        self.assertEqual(self.value(families, "roomkit_sip_rtp_jitter_mean_seconds"), 0.003)
        self.assertEqual(self.value(families, "roomkit_sip_rtp_jitter_max_seconds"), 0.004)
        self.assertEqual(self.value(families, "roomkit_sip_dtmf", "roomkit_sip_dtmf_total"), 1)
        rejected = "roomkit_sip_calls_rejected"
        self.assertEqual(self.value(families, rejected, rejected + "_total", status="503"), 2)
        self.assertEqual(self.value(families, rejected, rejected + "_total", status="486"), 1)
        auth = "roomkit_sip_auth_failures"
        self.assertEqual(self.value(families, auth, auth + "_total"), 5)

        a.set_stats({"packets_in": 120, "packets_out": 110, "lost": 2, "jitter_ms": 4.0})
        a.end("remote_bye")
        self.observer.call_ended(a)
        families = scrape(self.registry)
        self.assertEqual(self.value(families, "roomkit_sip_calls_active"), 1)
        self.assertEqual(self.value(families, received, counter.format(received)), 170)
        ended = "roomkit_sip_calls_ended"
        self.assertEqual(self.value(families, ended, ended + "_total", reason="remote_bye"), 1)
        self.assertEqual(self.value(families, "roomkit_sip_rtp_jitter_max_seconds"), 0.002)

    def test_drain_state(self) -> None:
        self.state.phase = SERVING
        self.assertEqual(self.value(scrape(self.registry), "roomkit_sip_draining"), 0)
        self.state.phase = DRAINING
        self.assertEqual(self.value(scrape(self.registry), "roomkit_sip_draining"), 1)

    def test_label_values_escaped(self) -> None:
        call = FakeCall()
        self.observer.call_answered(call)
        call.end('odd "reason"\\ with\nnewline')
        self.observer.call_ended(call)
        text = render(self.registry).decode()
        self.assertIn(
            'roomkit_sip_calls_ended_total{reason="odd \\"reason\\"\\\\ with\\nnewline"} 1.0',
            text,
        )
        families = scrape(self.registry)
        ended = "roomkit_sip_calls_ended"
        self.assertEqual(
            self.value(families, ended, ended + "_total", reason='odd "reason"\\ with\nnewline'), 1
        )

    def test_engine_stats_failure_leaves_out_only_the_engine(self) -> None:
        def broken() -> dict:
            raise RuntimeError("stats")

        registry = make_registry(ServiceCollector(self.observer, broken, self.state))
        families = scrape(registry)
        self.assertNotIn("roomkit_sip_calls_rejected", families)
        self.assertNotIn("roomkit_sip_auth_failures", families)
        self.assertIn("roomkit_sip_calls_active", families)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_webhook_metrics_when_configured(self) -> None:
        registry = make_registry(
            ServiceCollector(self.observer, lambda: self.engine, self.state, _Poster())
        )
        families = scrape(registry)
        self.assertEqual(self.value(families, "roomkit_sip_webhook_queue"), 4)
        for name, value in (("delivered", 10), ("dropped", 2), ("retries", 7)):
            family = f"roomkit_sip_webhook_{name}"
            self.assertEqual(self.value(families, family, family + "_total"), value)

    def test_registries_are_private(self) -> None:
        other = make_registry(
            ServiceCollector(CallObserver(CallHandler(), self.clock), dict, ServiceState())
        )
        self.observer.call_answered(FakeCall())
        self.assertEqual(self.value(scrape(self.registry), "roomkit_sip_calls_active"), 1)
        self.assertEqual(self.value(scrape(other), "roomkit_sip_calls_active"), 0)
