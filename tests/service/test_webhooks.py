"""Webhook delivery: order, bounded retries with backoff, a bounded queue, stop."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock, deferLater
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial import unittest
from twisted.web.resource import Resource
from twisted.web.server import Site

from roomkit_sip.service.webhooks import WebhookPoster

URL = "http://hooks.example.com/sip"


@dataclass
class _Request:
    url: str
    body: bytes
    headers: dict[str, list[str]]
    timeout: float
    reactor: Any
    cancelled: bool = False
    result: Deferred = field(init=False)

    def __post_init__(self) -> None:
        self.result = Deferred(self._cancel)

    def _cancel(self, d: Deferred) -> None:
        self.cancelled = True

    @property
    def event(self) -> dict:
        return json.loads(self.body)

    @property
    def attempt(self) -> int:
        return int(self.headers["X-Roomkit-Delivery-Attempt"][0])


class _Response:
    def __init__(self, code: int) -> None:
        self.code = code

    def content(self) -> Deferred[bytes]:
        return succeed(b"")


class FakeClient:
    """treq's HTTPClient.post, answered by the test."""

    def __init__(self) -> None:
        self.requests: list[_Request] = []

    def post(self, url, data=None, headers=None, timeout=None, reactor=None) -> Deferred:
        request = _Request(url, data, headers, timeout, reactor)
        self.requests.append(request)
        return request.result

    @property
    def waiting(self) -> list[_Request]:
        return [r for r in self.requests if not r.result.called]

    def answer(self, code: int) -> None:
        (request,) = self.waiting
        request.result.callback(_Response(code))

    def refuse(self) -> None:
        (request,) = self.waiting
        request.result.errback(ConnectionRefusedError("refused"))


def event(n: int, kind: str = "call.started") -> dict:
    return {"event": kind, "id": f"e{n}", "call": {"call_id": f"c{n}"}}


class PosterTests(unittest.SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.client = FakeClient()
        self.poster = WebhookPoster(self.clock, URL, client=self.client)
        self.logged = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def delivered_ids(self) -> list[str]:
        return [r.event["id"] for r in self.client.requests if r.result.called]

    def test_one_request_at_a_time_in_order(self) -> None:
        for n in range(3):
            self.poster.post(event(n))
        self.assertEqual(len(self.client.waiting), 1)
        self.assertEqual(self.poster.queued, 3)
        for _ in range(3):
            self.client.answer(204)
        self.assertEqual([r.event for r in self.client.requests], [event(n) for n in range(3)])
        first = self.client.requests[0]
        self.assertEqual(first.url, URL)
        self.assertEqual(first.headers["Content-Type"], ["application/json"])
        self.assertEqual(first.attempt, 1)
        self.assertEqual((first.timeout, first.reactor), (10.0, self.clock))
        self.assertEqual((self.poster.delivered, self.poster.queued), (3, 0))

    def test_backoff_then_give_up(self) -> None:
        """1, 2, 4, 8, 16 s between six attempts; then the next event goes."""
        self.poster.post(event(1))
        self.poster.post(event(2))
        delays = []
        for _ in range(5):
            self.client.answer(503)
            (retry,) = self.clock.getDelayedCalls()
            delays.append(retry.getTime() - self.clock.seconds())
            self.clock.advance(delays[-1])
        self.assertEqual(delays, [1, 2, 4, 8, 16])
        self.assertEqual([r.attempt for r in self.client.requests], [1, 2, 3, 4, 5, 6])
        self.client.refuse()
        self.assertEqual(self.poster.dropped, 1)
        self.assertEqual(self.client.waiting[0].event["id"], "e2")
        self.assertEqual(self.client.waiting[0].attempt, 1)
        self.assertEqual(self.poster.retries, 5)
        errors = [e for e in self.logged if e["log_level"] == LogLevel.error]
        self.assertEqual(len(errors), 1)
        self.assertEqual(errors[0]["attempts"], 6)

    def test_delay_is_capped(self) -> None:
        poster = WebhookPoster(self.clock, URL, client=self.client, max_attempts=10, max_delay=5)
        poster.post(event(1))
        delays = []
        for _ in range(5):
            self.client.refuse()
            (retry,) = self.clock.getDelayedCalls()
            delays.append(retry.getTime() - self.clock.seconds())
            self.clock.advance(delays[-1])
        self.assertEqual(delays, [1, 2, 4, 5, 5])

    def test_client_errors_are_final_except_408_425_429(self) -> None:
        self.poster.post(event(1))
        self.poster.post(event(2))
        self.client.answer(429)
        self.assertEqual(self.client.waiting, [])
        self.clock.advance(1)
        self.client.answer(400)
        self.assertEqual(self.poster.dropped, 1)
        self.assertEqual(self.client.waiting[0].event["id"], "e2")
        self.client.answer(200)
        self.assertEqual(self.poster.delivered, 1)

    def test_queue_drops_oldest_waiting(self) -> None:
        poster = WebhookPoster(self.clock, URL, client=self.client, max_queue=2)
        for n in range(6):
            poster.post(event(n))
        self.assertEqual(poster.dropped, 3)
        self.assertEqual(poster.queued, 3)  # one being sent, two waiting
        for _ in range(3):
            self.client.answer(200)
        self.assertEqual([r.event["id"] for r in self.client.requests], ["e0", "e4", "e5"])
        warnings = [e for e in self.logged if e["log_level"] == LogLevel.warn]
        self.assertEqual(len(warnings), 1)  # grouped: one line per 10 s
        self.clock.advance(10)
        for n in range(6, 10):
            poster.post(event(n))
        warnings = [e for e in self.logged if e["log_level"] == LogLevel.warn]
        self.assertEqual([w["count"] for w in warnings], [1, 3])

    def test_stop_flushes_what_it_can(self) -> None:
        for n in range(3):
            self.poster.post(event(n))
        done = self.poster.stop(flush_timeout=5)
        self.client.answer(200)
        self.assertNoResult(done)
        self.client.answer(200)
        self.client.answer(200)
        self.successResultOf(done)
        self.assertEqual((self.poster.delivered, self.poster.dropped), (3, 0))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stop_gives_up_after_the_timeout(self) -> None:
        for n in range(3):
            self.poster.post(event(n))
        done = self.poster.stop(flush_timeout=5)
        self.client.answer(500)
        self.clock.advance(1)
        in_flight = self.client.waiting[0]
        self.clock.advance(4)
        self.successResultOf(done)
        self.assertTrue(in_flight.cancelled)
        self.assertEqual(self.poster.dropped, 3)
        self.assertEqual(self.poster.queued, 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.poster.post(event(9))
        self.assertEqual(self.poster.dropped, 4)
        self.assertEqual(len(self.client.requests), 2)

    def test_stop_when_idle(self) -> None:
        self.successResultOf(self.poster.stop())
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_event_that_is_not_json(self) -> None:
        self.poster.post({"event": "call.ended", "stats": {"mos": float("nan")}})
        self.assertEqual(self.poster.dropped, 1)
        self.assertEqual(self.client.requests, [])
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)


class _Receiver(Resource):
    """A webhook receiver on 127.0.0.1 answering from a script of statuses."""

    isLeaf = True

    def __init__(self, statuses: list[int]) -> None:
        super().__init__()
        self.statuses = list(statuses)
        self.seen: list[tuple[str, int, int]] = []
        self.accepted: list[str] = []
        self._waiters: list[tuple[int, Deferred]] = []

    def render_POST(self, request) -> bytes:
        body = json.loads(request.content.read())
        attempt = int(request.getHeader("X-Roomkit-Delivery-Attempt"))
        status = self.statuses.pop(0) if self.statuses else 200
        self.seen.append((body["id"], attempt, status))
        request.setResponseCode(status)
        if status == 200:
            self.accepted.append(body["id"])
            for count, d in list(self._waiters):
                if len(self.accepted) >= count:
                    self._waiters.remove((count, d))
                    d.callback(None)
        return b"{}"

    def when_accepted(self, count: int) -> Deferred:
        d: Deferred = Deferred()
        self._waiters.append((count, d))
        return d.addTimeout(10, reactor)


class LiveReceiverTests(unittest.TestCase):
    """Real HTTP over 127.0.0.1 with the real reactor: failures, then recovery."""

    timeout = 30

    def listen(self, resource: Resource, port: int = 0) -> int:
        listening = reactor.listenTCP(port, Site(resource), interface="127.0.0.1")
        self.addCleanup(listening.stopListening)
        return listening.getHost().port

    def poster(self, port: int, **kw: Any) -> WebhookPoster:
        poster = WebhookPoster(reactor, f"http://127.0.0.1:{port}/hook", **kw)
        # Close client connections, then give the server a turn to see them go.
        self.addCleanup(lambda: poster.stop(0).addCallback(lambda _: deferLater(reactor, 0.01)))
        return poster

    async def test_server_errors_then_recovery(self) -> None:
        receiver = _Receiver([500, 503])
        poster = self.poster(self.listen(receiver), base_delay=0.05)
        for n in range(3):
            poster.post(event(n))
        await receiver.when_accepted(3)
        await poster.stop(5)
        self.assertEqual(
            receiver.seen,
            [("e0", 1, 500), ("e0", 2, 503), ("e0", 3, 200), ("e1", 1, 200), ("e2", 1, 200)],
        )
        self.assertEqual((poster.delivered, poster.retries, poster.dropped), (3, 2, 0))

    async def test_connection_refused_then_recovery(self) -> None:
        probe = reactor.listenTCP(0, Site(Resource()), interface="127.0.0.1")
        port = probe.getHost().port
        await probe.stopListening()
        poster = self.poster(port, base_delay=0.05, max_delay=0.2, max_attempts=50)
        poster.post(event(1))
        poster.post(event(2))
        await deferLater(reactor, 0.4, lambda: None)
        failed = poster.retries + 1
        self.assertGreaterEqual(failed, 2)
        self.assertEqual(poster.delivered, 0)
        receiver = _Receiver([])
        self.listen(receiver, port)
        await receiver.when_accepted(2)
        await poster.stop(5)
        self.assertEqual(receiver.accepted, ["e1", "e2"])
        (first, second) = receiver.seen
        self.assertGreater(first[1], failed - 1)
        self.assertEqual(first[1], poster.retries + 1)
        self.assertEqual(second, ("e2", 1, 200))
