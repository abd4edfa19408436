"""The HTTP endpoints, scraped over 127.0.0.1 with treq like Prometheus would."""

from __future__ import annotations

import json

from prometheus_client.parser import text_string_to_metric_families
from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.trial import unittest
from twisted.web.client import Agent, HTTPConnectionPool

from roomkit_sip.engine.handler import CallHandler
from roomkit_sip.service.metrics import ServiceCollector, make_registry
from roomkit_sip.service.observer import CallObserver
from roomkit_sip.service.state import DRAINING, SERVING, ServiceState
from roomkit_sip.service.web import make_site
from tests.service._fakes import FakeCall


class EndpointTests(unittest.TestCase):
    timeout = 20

    def setUp(self) -> None:
        self.state = ServiceState()
        self.observer = CallObserver(CallHandler(), reactor)
        self.engine_stats = {"rejected": {503: 4}, "auth_failures": 1}
        registry = make_registry(
            ServiceCollector(self.observer, lambda: self.engine_stats, self.state)
        )
        site = make_site(self.state, self.observer, registry, reactor)
        port = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.base = f"http://127.0.0.1:{port.getHost().port}"
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(pool.closeCachedConnections)
        self.http = HTTPClient(Agent(reactor, pool=pool))

    async def get(self, path: str) -> tuple[int, str, bytes]:
        response = await self.http.get(self.base + path, timeout=5, reactor=reactor)
        body = await response.content()
        (content_type,) = response.headers.getRawHeaders(b"content-type")
        return response.code, content_type.decode(), body

    async def test_healthz_follows_the_service(self) -> None:
        self.assertEqual((await self.get("/healthz"))[::2], (503, b"starting\n"))
        self.state.phase = SERVING
        self.assertEqual(await self.get("/healthz"), (200, "text/plain; charset=utf-8", b"ok\n"))
        self.state.phase = DRAINING
        self.assertEqual((await self.get("/healthz"))[::2], (503, b"draining\n"))

    async def test_metrics_scrape(self) -> None:
        calls = [FakeCall(stats={"packets_in": 10 * n, "packets_out": n}) for n in (1, 2, 3)]
        for call in calls:
            self.observer.call_answered(call)
        calls[0].end("remote_bye")
        self.observer.call_ended(calls[0])
        code, content_type, body = await self.get("/metrics")
        self.assertEqual(code, 200)
        self.assertEqual(content_type, "text/plain; version=0.0.4; charset=utf-8")
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode())
            for s in family.samples
        }
        self.assertEqual(samples[("roomkit_sip_calls_active", ())], 2)
        self.assertEqual(samples[("roomkit_sip_calls_total", ())], 3)
        self.assertEqual(samples[("roomkit_sip_rtp_packets_received_total", ())], 60)
        self.assertEqual(samples[("roomkit_sip_rtp_packets_sent_total", ())], 6)
        self.assertEqual(
            samples[("roomkit_sip_calls_ended_total", (("reason", "remote_bye"),))], 1
        )
        self.assertEqual(samples[("roomkit_sip_calls_rejected_total", (("status", "503"),))], 4)
        self.assertEqual(samples[("roomkit_sip_draining", ())], 0)
        self.engine_stats["rejected"][503] = 9
        body = (await self.get("/metrics"))[2]
        self.assertIn(b'roomkit_sip_calls_rejected_total{status="503"} 9.0', body)

    async def test_calls_lists_live_calls(self) -> None:
        self.assertEqual(json.loads((await self.get("/calls"))[2]), [])
        first = FakeCall("a@pbx", codec="G722", stats={"packets_in": 5})
        second = FakeCall("b@pbx", x_headers={"X-Room-ID": "room-2"})
        self.observer.call_answered(first)
        self.observer.call_answered(second)
        code, content_type, body = await self.get("/calls")
        self.assertEqual((code, content_type), (200, "application/json"))
        listed = json.loads(body)
        self.assertEqual([c["call_id"] for c in listed], ["a@pbx", "b@pbx"])
        self.assertEqual(
            {k: listed[0][k] for k in ("session_id", "caller", "callee", "codec", "stats")},
            {
                "session_id": "a@pbx",
                "caller": "sip:alice@example.com",
                "callee": "sip:bot@example.net",
                "codec": "G722",
                "stats": {"packets_in": 5},
            },
        )
        self.assertEqual(listed[1]["room_id"], "room-2")
        self.assertGreaterEqual(listed[0]["duration_s"], 0)
        self.assertRegex(listed[0]["started"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")

    async def test_index_and_404s(self) -> None:
        self.assertEqual(
            await self.get("/"),
            (200, "text/plain; charset=utf-8", b"roomkit-sip: /healthz /metrics /calls\n"),
        )
        for path in ("/admin", "/metrics/extra", "/calls/", "/healthz/x/y"):
            self.assertEqual((await self.get(path))[0], 404, path)
