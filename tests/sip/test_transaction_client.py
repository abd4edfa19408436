"""
Client transactions (RFC 3261 §17.1.1, §17.1.2, RFC 6026 §7.2), ACK for
non-2xx (§17.1.1.3) and CANCEL (§9.1), through the L{TransactionLayer} on a
L{Clock}, with exact schedules for T1 = 500 ms, T2 = 4 s, T4 = 5 s.
"""

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.sip.client_transaction import ack_for_non2xx, cancel_for
from roomkit_sip.sip.transaction import (
    State,
    TransactionClosed,
    TransactionTimeout,
    TransportFailure,
)

from ._txn_support import ME, advance, make_layer, outgoing, reparse, response


class _Base(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock, self.wire, self.tu, self.layer = make_layer()
        self.provisionals: list[int] = []
        self.extra: list[int] = []

    def start(self, method: str = "INVITE", transport: str = "UDP", **kw: object) -> object:
        self.req = outgoing(method, **kw)  # type: ignore[arg-type]
        return self.layer.request(
            self.req,
            ME,
            transport,
            on_provisional=lambda r: self.provisionals.append(r.status),
            on_additional_2xx=lambda r: self.extra.append(r.status),
        )

    def answer(self, status: int, transport: str = "UDP", to_tag: str | None = "rtag") -> None:
        """The peer answers the request as received (reparsed)."""
        self.layer.receive(response(reparse(self.req), status, to_tag=to_tag), ME, transport)

    def assertAllGone(self) -> None:
        self.assertEqual(len(self.layer), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class InviteClientTests(_Base):
    def test_timer_a_and_b(self) -> None:
        """Timer A doubles without cap; Timer B (64*T1) fails with a 408."""
        txn = self.start()
        advance(self.clock, 31.99)
        self.assertEqual(self.wire.times("INVITE"), [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5])
        self.assertNoResult(txn.final)
        advance(self.clock, 32)
        error = self.failureResultOf(txn.final, TransactionTimeout).value
        self.assertEqual(error.status, 408)
        self.assertAllGone()

    def test_tcp_no_retransmission(self) -> None:
        txn = self.start(transport="TCP")
        advance(self.clock, 32)
        self.assertEqual(self.wire.times("INVITE"), [0.0])
        self.failureResultOf(txn.final, TransactionTimeout)
        self.assertAllGone()

    def test_via_and_branch_added(self) -> None:
        """The layer adds our Via with a fresh RFC 3261 branch (§8.1.1.7)."""
        txn = self.start()
        via = self.wire.messages[0].top_via
        self.assertEqual(
            (via.transport, via.host, via.port, via.rport), ("UDP", "192.0.2.10", 5060, True)
        )
        self.assertTrue(via.branch.startswith("z9hG4bK") and len(via.branch) > 7)
        self.assertEqual(txn.branch, via.branch)

    def test_provisional_stops_retransmission(self) -> None:
        """A 1xx: Proceeding, no retransmission, no Timer B (§17.1.1.2)."""
        txn = self.start()
        advance(self.clock, 0.7)
        self.answer(180)
        self.assertEqual(txn.state, State.PROCEEDING)
        self.assertEqual(self.provisionals, [180])
        advance(self.clock, 100)
        self.assertEqual(self.wire.times("INVITE"), [0.0, 0.5])
        self.assertNoResult(txn.final)
        self.layer.close()
        self.failureResultOf(txn.final, TransactionClosed)
        self.assertAllGone()

    def test_non2xx_is_acked(self) -> None:
        """300-699: ACK built per §17.1.1.3, resent per retransmission, Timer D."""
        txn = self.start(routes=("<sip:p1.example.com;lr>",))
        advance(self.clock, 0.2)
        self.answer(486)
        self.assertEqual(self.successResultOf(txn.final).status, 486)
        ack = self.wire.last()
        self.assertEqual((ack.method, ack.uri), ("ACK", "sip:bob@192.0.2.20"))
        self.assertEqual(ack.vias, [self.wire.messages[0].top_via])
        self.assertEqual(ack.to.tag, "rtag")
        self.assertEqual((ack.cseq.seq, ack.cseq.method), (1, "ACK"))
        self.assertEqual(ack.headers.get_all("Route"), ["<sip:p1.example.com;lr>"])
        self.assertEqual(ack.from_, self.req.from_)
        advance(self.clock, 3)
        self.answer(486)
        self.assertEqual(self.wire.times("ACK"), [0.2, 3.0])
        advance(self.clock, 32.19)
        self.assertEqual(len(self.layer), 1)
        advance(self.clock, 32.2)  # Timer D: 32 s after the final
        self.assertAllGone()

    def test_non2xx_tcp_terminates(self) -> None:
        """Timer D is zero on TCP."""
        txn = self.start(transport="TCP")
        self.answer(404, "TCP")
        self.assertEqual(self.wire.sent(), ["INVITE", "ACK"])
        self.assertEqual(txn.state, State.TERMINATED)
        self.assertAllGone()

    def test_2xx_accepted_timer_m(self) -> None:
        """
        RFC 6026: a 2xx goes to the TU, which ACKs it; in Accepted further
        2xx (retransmissions, forks) go to the TU too; after Timer M a 2xx
        is a stray response for the TU's dialog to re-ACK.
        """
        txn = self.start()
        self.answer(200)
        self.assertEqual(self.successResultOf(txn.final).status, 200)
        self.assertEqual(txn.state, State.ACCEPTED)
        self.answer(200)
        self.answer(200, to_tag="fork2")
        self.answer(180)
        self.assertEqual(self.extra, [200, 200])
        self.assertEqual(self.wire.sent(), ["INVITE"])  # the transaction never ACKs a 2xx
        advance(self.clock, 32)
        self.assertAllGone()
        self.answer(200)
        self.assertEqual(self.tu.events, [("stray", 200, "INVITE")])

    def test_transport_failure(self) -> None:
        """A request that cannot be sent fails as a 503 (§8.1.3.1)."""
        self.wire.fail_with = OSError("no route")
        txn = self.start()
        error = self.failureResultOf(txn.final, TransportFailure).value
        self.assertEqual(error.status, 503)
        self.assertAllGone()

    def test_transport_failed_later(self) -> None:
        """An asynchronous transport loss fails the pending transactions to that peer."""
        txn = self.start(transport="TCP")
        self.layer.transport_failed(ME, "tcp")
        self.failureResultOf(txn.final, TransportFailure)
        self.assertAllGone()


class CancelTests(_Base):
    def test_cancel_waits_for_provisional(self) -> None:
        """§9.1: no CANCEL before a provisional response; sent on the first one."""
        txn = self.start()
        self.assertIsNone(self.layer.cancel(txn))
        advance(self.clock, 0.6)
        self.assertEqual(self.wire.sent(), ["INVITE", "INVITE"])
        self.answer(100)
        self.assertEqual(self.wire.sent(), ["INVITE", "INVITE", "CANCEL"])
        cancel = self.wire.last()
        invite = self.wire.messages[0]
        self.assertEqual(cancel.vias, [invite.top_via])  # same branch, one Via
        self.assertEqual((cancel.cseq.seq, cancel.cseq.method), (1, "CANCEL"))
        self.assertEqual(
            (cancel.uri, cancel.to, cancel.from_), (invite.uri, invite.to, invite.from_)
        )
        self.assertEqual(cancel.call_id, invite.call_id)
        self.assertIsNone(self.layer.cancel(txn))  # once is enough
        self.answer(180)
        self.assertEqual(self.wire.sent().count("CANCEL"), 1)

    def test_cancel_flow(self) -> None:
        """CANCEL, its 200, then the INVITE's 487 which the transaction ACKs."""
        txn = self.start()
        self.answer(180)
        cancel_txn = self.layer.cancel(txn)
        self.assertEqual(cancel_txn.method, "CANCEL")
        self.layer.receive(response(reparse(cancel_txn.request), 200), ME, "UDP")
        self.assertEqual(self.successResultOf(cancel_txn.final).status, 200)
        self.answer(487)
        self.assertEqual(self.successResultOf(txn.final).status, 487)
        self.assertEqual(self.wire.sent(), ["INVITE", "CANCEL", "ACK"])
        advance(self.clock, 40)
        self.assertAllGone()

    def test_cancel_without_final(self) -> None:
        """No final response 64*T1 after the CANCEL: the INVITE times out (§9.1)."""
        txn = self.start()
        advance(self.clock, 1.0)
        self.answer(183)
        advance(self.clock, 2.0)
        self.layer.cancel(txn)
        advance(self.clock, 33.99)
        self.assertNoResult(txn.final)
        advance(self.clock, 34.0)
        self.failureResultOf(txn.final, TransactionTimeout)
        self.assertAllGone()

    def test_cancel_after_final_is_noop(self) -> None:
        txn = self.start()
        self.answer(200)
        self.assertIsNone(self.layer.cancel(txn))
        self.assertEqual(self.wire.sent(), ["INVITE"])

    def test_cancel_non_invite_refused(self) -> None:
        txn = self.start("OPTIONS")
        self.assertRaises(ValueError, self.layer.cancel, txn)

    def test_cancel_for_copies_route(self) -> None:
        """§9.1: the CANCEL carries the Route values of the request."""
        req = outgoing(routes=("<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"))
        req.headers.add("Via", "SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKx, SIP/2.0/UDP other")
        cancel = cancel_for(req)
        self.assertEqual(cancel.headers.get_all("Route"), req.headers.get_all("Route"))
        self.assertEqual(cancel.headers.get_all("Via"), ["SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKx"])
        self.assertEqual(ack_for_non2xx(req, response(req, 404)).method, "ACK")


class NonInviteClientTests(_Base):
    def test_timer_e_and_f(self) -> None:
        """Timer E doubles to T2 in Trying; Timer F at 64*T1 fails with a 408."""
        txn = self.start("OPTIONS")
        advance(self.clock, 31.99)
        self.assertEqual(
            self.wire.times("OPTIONS"),
            [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5],
        )
        advance(self.clock, 32)
        self.failureResultOf(txn.final, TransactionTimeout)
        self.assertAllGone()

    def test_proceeding_retransmits_every_t2(self) -> None:
        """§17.1.2.2: once a 1xx arrived, Timer E is reset to T2 each time."""
        txn = self.start("BYE")
        advance(self.clock, 0.2)
        self.answer(100)
        self.assertEqual(txn.state, State.PROCEEDING)
        advance(self.clock, 31.99)
        self.assertEqual(
            self.wire.times("BYE"), [0.0, 0.5, 4.5, 8.5, 12.5, 16.5, 20.5, 24.5, 28.5]
        )
        advance(self.clock, 32)
        self.failureResultOf(txn.final, TransactionTimeout)
        self.assertAllGone()

    def test_final_and_timer_k(self) -> None:
        """Completed absorbs response retransmissions for T4, then they are strays."""
        txn = self.start("BYE")
        advance(self.clock, 1.0)
        self.answer(200)
        self.assertEqual(self.successResultOf(txn.final).status, 200)
        self.assertEqual(txn.state, State.COMPLETED)
        self.answer(200)
        advance(self.clock, 5.99)
        self.assertEqual(self.wire.times("BYE"), [0.0, 0.5])
        self.assertEqual(self.tu.events, [])
        advance(self.clock, 6.0)
        self.assertAllGone()
        self.answer(200)
        self.assertEqual(self.tu.events, [("stray", 200, "BYE")])

    def test_tcp(self) -> None:
        """No Timer E on TCP; Timer K zero."""
        txn = self.start("INFO", transport="TCP")
        advance(self.clock, 10)
        self.assertEqual(self.wire.times("INFO"), [0.0])
        self.answer(200, "TCP")
        self.assertEqual(txn.state, State.TERMINATED)
        self.assertAllGone()

    def test_provisional_listener_errors_are_contained(self) -> None:
        txn = self.layer.request(outgoing("REGISTER"), ME, "UDP", on_provisional=lambda r: 1 / 0)
        self.layer.receive(response(reparse(txn.request), 100), ME, "UDP")
        self.assertEqual(txn.state, State.PROCEEDING)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)


class RequestApiTests(_Base):
    def test_ack_is_not_a_transaction(self) -> None:
        self.assertRaises(ValueError, self.layer.request, outgoing("ACK"), ME, "UDP")

    def test_send_ack_keeps_its_branch(self) -> None:
        """send_ack completes the ACK once; resending the object reuses it."""
        ack = outgoing("ACK")
        self.layer.send_ack(ack, ME, "UDP")
        self.layer.send_ack(ack, ME, "UDP")
        first, second = self.wire.messages
        self.assertEqual(first.top_via.branch, second.top_via.branch)
        self.assertEqual(len(self.layer), 0)

    def test_non_rfc3261_branch_replaced(self) -> None:
        req = outgoing("OPTIONS")
        req.headers.add("Via", "SIP/2.0/UDP 192.0.2.10;branch=old")
        self.layer.request(req, ME, "UDP")
        self.assertNotEqual(req.top_via.branch, "old")
        self.assertTrue(req.top_via.branch.startswith("z9hG4bK"))

    def test_branch_reuse_refused(self) -> None:
        req = outgoing("OPTIONS")
        self.layer.request(req, ME, "UDP")
        again = outgoing("OPTIONS")
        again.headers.add("Via", req.top_via)
        self.assertRaises(ValueError, self.layer.request, again, ME, "UDP")

    def test_no_via_without_local_via(self) -> None:
        from ._txn_support import RecordingTU, TransactionLayer, Wire

        layer = TransactionLayer(self.clock, Wire(self.clock), RecordingTU())
        self.assertRaises(ValueError, layer.request, outgoing("OPTIONS"), ME, "UDP")
