"""
L{SIPEngine} as a whole: start and stop, the drain, the counters, the
sessions it lists, and that stopping releases every socket, port and timer.
"""

from __future__ import annotations

from twisted.internet.error import CannotListenError
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from roomkit_sip.engine import EngineConfig, SIPEngine
from roomkit_sip.engine.endpoint import Endpoint
from roomkit_sip.engine.notify import Notifier
from roomkit_sip.sip.transactions import ITransactionUser
from roomkit_sip.testing import MemoryUDPReactor
from tests.engine._peer import HOST, Harness, Recorder, assert_released, fired
from tests.engine.test_calls import answered


class LifetimeTests(SynchronousTestCase):
    def test_endpoint_is_a_transaction_user(self) -> None:
        h = Harness()
        self.assertTrue(verifyObject(ITransactionUser, Endpoint(h.services)))

    def test_start_binds_and_stop_releases(self) -> None:
        reactor = MemoryUDPReactor()
        config = EngineConfig(sip_host=HOST, sip_port=0, rtp_ip=HOST)
        engine = SIPEngine(reactor, config)
        self.assertEqual(engine.local_sip_addr, (HOST, 0))
        self.assertIsNone(fired(engine.start()))
        host, port = engine.local_sip_addr
        self.assertEqual((host, port > 0), (HOST, True))
        self.assertEqual(list(reactor.udp_ports), [(HOST, port)])
        self.assertEqual(reactor.getDelayedCalls(), [])  # nothing runs while idle
        self.assertIsNone(fired(engine.stop()))
        self.assertEqual(reactor.udp_ports, {})
        self.assertIsNone(fired(engine.stop()))  # idempotent
        self.assertIsInstance(fired(engine.start()).value, RuntimeError)

    def test_tcp_listens_on_the_same_port(self) -> None:
        reactor = MemoryUDPReactor()
        config = EngineConfig(sip_host=HOST, sip_port=5070, rtp_ip=HOST, transports=("udp", "tcp"))
        engine = SIPEngine(reactor, config)
        engine.start()
        [tcp] = reactor.tcpServers
        self.assertEqual((tcp[0], tcp[3]), (5070, HOST))
        engine.stop()

    def test_stop_without_start(self) -> None:
        engine = SIPEngine(MemoryUDPReactor(), EngineConfig(sip_host=HOST, rtp_ip=HOST))
        self.assertIsNone(fired(engine.stop()))

    def test_port_in_use(self) -> None:
        reactor = MemoryUDPReactor()
        reactor.unavailable.add(5060)
        engine = SIPEngine(reactor, EngineConfig(sip_host=HOST, rtp_ip=HOST))
        self.assertIsInstance(fired(engine.start()).value, CannotListenError)

    def test_bad_config_is_refused_at_construction(self) -> None:
        self.assertRaises(
            ValueError, SIPEngine, MemoryUDPReactor(), EngineConfig(sip_host="nowhere")
        )
        self.assertRaises(ValueError, EngineConfig(ring_timeout=-1).validate)


class DrainTests(SynchronousTestCase):
    def test_calls_finish_within_the_drain(self) -> None:
        h = Harness()
        c, call = answered(h)
        stopped = h.engine.stop(drain_timeout=30)
        self.assertFalse(stopped.called)
        late = h.caller()
        late.send_invite()
        self.assertEqual(late.statuses(), [100, 503])
        self.assertEqual(late.final().headers.get("Retry-After"), "5")
        h.advance(10)
        self.assertFalse(stopped.called)
        c.send(c.request("BYE", content_type=None))
        h.advance(0.2)
        self.assertIsNone(fired(stopped))
        self.assertEqual(call.metadata["disconnect_reason"], "remote_bye")
        self.assertEqual(h.reactor.udp_ports, {})

    def test_bye_after_the_drain_timeout(self) -> None:
        h = Harness()
        c, call = answered(h)
        ringing = h.caller()
        h.handler.verdict = lambda incoming: incoming.MANUAL
        ringing.send_invite()
        stopped = h.engine.stop(drain_timeout=5)
        h.advance(4.9)
        self.assertEqual(c.requests("BYE"), [])
        h.advance(0.2)
        [bye] = c.requests("BYE")
        self.assertIn("cause=16", bye.headers.get("Reason"))
        self.assertEqual(ringing.statuses(), [100, 503])
        self.assertEqual(call.metadata["disconnect_reason"], "shutdown")
        self.assertEqual(h.handler.ended, [call])
        self.assertFalse(stopped.called)  # waiting for the BYE's answer
        c.answer(bye)
        self.assertIsNone(fired(stopped))
        self.assertEqual(h.reactor.udp_ports, {})
        self.assertEqual(h.reactor.getDelayedCalls(), [])

    def test_unanswered_byes_do_not_hold_the_stop(self) -> None:
        h = Harness()
        answered(h)
        stopped = h.engine.stop()
        h.advance(4.9)
        self.assertFalse(stopped.called)
        h.advance(0.2)
        self.assertIsNone(fired(stopped))
        self.assertEqual(h.reactor.getDelayedCalls(), [])
        self.assertEqual(h.services.allocator.allocated, 0)


class QueryTests(SynchronousTestCase):
    def test_stats(self) -> None:
        h = Harness(max_sessions=2)
        c1, _ = answered(h)
        answered(h)
        full = h.caller()
        full.send_invite()
        c1.send(c1.request("BYE", content_type=None))
        stats = h.engine.stats()
        self.assertEqual(
            {k: stats[k] for k in ("invites", "calls_total", "calls_active", "rejected", "ended")},
            {
                "invites": 3,
                "calls_total": 2,
                "calls_active": 1,
                "rejected": {503: 1},
                "ended": {"remote_bye": 1},
            },
        )
        self.assertEqual(stats["ports"]["allocated"], 1)
        self.assertFalse(stats["draining"])

    def test_list_and_get(self) -> None:
        h = Harness(Recorder())
        _, a = answered(h, headers=[("X-Room-ID", "r1")])
        _, b = answered(h, headers=[("X-Room-ID", "r2")])
        self.assertEqual(h.engine.list_sessions(), [a, b])
        self.assertEqual(h.engine.list_sessions("r2"), [b])
        self.assertIs(h.engine.get_session(a.session_id), a)
        self.assertIsNone(h.engine.get_session("nobody"))

    def test_no_handler_answers_automatically(self) -> None:
        h = Harness()
        h.engine.handler = None
        c = h.caller()
        c.send_invite()
        self.assertEqual(c.final().status, 200)
        c.ack()
        c.send(c.request("BYE", content_type=None))
        assert_released(self, h)

    def test_notifier_reports_a_failing_deferred(self) -> None:
        from twisted.internet.defer import fail

        class Handler(Recorder):
            def call_answered(self, call):  # type: ignore[no-untyped-def]
                return fail(ValueError("later"))

        notifier = Notifier(lambda: Handler())
        notifier.call_answered(object())
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)


class DrainUnansweredTests(SynchronousTestCase):
    def test_late_offer_waiting_for_its_ack_is_ended_too(self) -> None:
        """A 200 sent with our offer, no ACK yet: stopping ends it with BYE."""
        h = Harness()
        c = h.caller()
        c.send_invite(body=b"")
        self.assertEqual(c.final().status, 200)
        stopped = h.engine.stop()
        [bye] = c.requests("BYE")
        c.answer(bye)
        self.assertIsNone(fired(stopped))
        self.assertEqual(h.services.allocator.allocated, 0)
        self.assertTrue(h.services.registry.empty, h.services.registry.counts())
        self.assertEqual(h.handler.ended, [])  # never answered
