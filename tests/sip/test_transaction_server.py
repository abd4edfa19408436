"""
Server transactions (RFC 3261 §17.2.1, §17.2.2, RFC 6026 §7.1, and the
§13.3.1.4 2xx retransmission), driven through the L{TransactionLayer} on a
L{Clock}, with exact schedules for T1 = 500 ms, T2 = 4 s, T4 = 5 s.
"""

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.sip.transaction import State, TimeoutKind

from ._txn_support import PEER, advance, make_layer, request

#: 2xx and Timer G retransmissions after a response sent at 0: T1 doubling
#: to T2, every T2 after, within 64*T1.
CAPPED = [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]


class InviteServerTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock, self.wire, self.tu, self.layer = make_layer()

    def invite(self, transport: str = "UDP", **kw: object) -> object:
        self.layer.receive(request("INVITE", **kw), PEER, transport)  # type: ignore[arg-type]
        return self.tu.txns[-1] if self.tu.txns else None

    def assertAllGone(self) -> None:
        self.assertEqual(len(self.layer), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_trying_after_200ms(self) -> None:
        """§17.2.1: 100 Trying if the TU has not answered within 200 ms."""
        self.invite()
        self.assertEqual(self.tu.events, [("request", "INVITE")])
        advance(self.clock, 0.19)
        self.assertEqual(self.wire.sent(), [])
        advance(self.clock, 0.2)
        self.assertEqual(self.wire.times(100), [0.2])
        trying = self.wire.last()
        self.assertIsNone(trying.to.tag)  # §8.2.6.1: no tag on 100
        self.assertEqual(self.wire.log[0][2:], (PEER, "UDP"))

    def test_no_trying_when_tu_answers(self) -> None:
        txn = self.invite()
        advance(self.clock, 0.1)
        txn.reply(180, to_tag="t1")
        advance(self.clock, 1)
        self.assertEqual(self.wire.sent(), [180])

    def test_retransmission_resends_last_provisional(self) -> None:
        """Request retransmissions are absorbed: the TU sees one INVITE."""
        txn = self.invite()
        self.invite()  # before any response: nothing to resend
        self.assertEqual(self.wire.sent(), [])
        txn.reply(180, to_tag="t1")
        advance(self.clock, 0.5)
        self.invite()
        self.assertEqual(self.wire.log[-1][:2], (0.5, 180))
        self.assertEqual(self.wire.sent(), [180, 180])
        self.assertEqual(self.tu.events, [("request", "INVITE")])

    def _accept(self, transport: str = "UDP") -> object:
        txn = self.invite(transport)
        txn.reply(200, to_tag="t1")
        return txn

    def test_2xx_retransmitted_until_timer_l(self) -> None:
        """
        §13.3.1.4: the 2xx is resent at T1, doubling to T2, until 64*T1;
        then the TU is told (it sends BYE) and everything is cleaned up.
        """
        txn = self._accept()
        self.assertEqual(txn.state, State.ACCEPTED)
        advance(self.clock, 31.99)
        self.assertEqual(self.wire.times(200), [0.0, *CAPPED])
        self.assertEqual(self.tu.events, [("request", "INVITE")])
        advance(self.clock, 32)
        self.assertEqual(self.tu.events[-1], ("timeout", "INVITE", TimeoutKind.NO_2XX_ACK))
        self.assertEqual(txn.state, State.TERMINATED)
        advance(self.clock, 100)
        self.assertEqual(len(self.wire.times(200)), 11)
        self.assertAllGone()

    def test_2xx_retransmitted_over_tcp(self) -> None:
        """2xx retransmission is end-to-end: TCP on our hop changes nothing."""
        self._accept("TCP")
        advance(self.clock, 40)
        self.assertEqual(self.wire.times(200), [0.0, *CAPPED])
        self.assertEqual(self.tu.events[-1], ("timeout", "INVITE", TimeoutKind.NO_2XX_ACK))
        self.assertAllGone()

    def test_2xx_ack_stops_retransmission(self) -> None:
        """
        The 2xx ACK (its own transaction, another branch) reaches the TU and
        stops the retransmissions; RFC 6026's Accepted state absorbs INVITE
        retransmissions until Timer L.
        """
        txn = self._accept()
        advance(self.clock, 2.0)
        ack = request("ACK", branch="z9hG4bKack1", to_tag="t1")
        self.layer.receive(ack, PEER, "UDP")
        self.assertEqual(self.tu.events[-1], ("ack", 1, PEER))
        self.assertTrue(txn.acked)
        self.invite()  # a late INVITE retransmission: absorbed
        advance(self.clock, 31.99)
        self.assertEqual(self.wire.times(200), [0.0, 0.5, 1.5])
        self.assertEqual(len(self.layer), 1)
        advance(self.clock, 32)
        self.assertEqual(self.tu.events, [("request", "INVITE"), ("ack", 1, PEER)])
        self.assertAllGone()

    def test_2xx_ack_retransmissions_reported(self) -> None:
        """Each copy of the 2xx ACK goes to the TU (one per 2xx received)."""
        self._accept()
        for _ in range(2):
            self.layer.receive(request("ACK", branch="z9hG4bKack1", to_tag="t1"), PEER, "UDP")
        self.assertEqual([e[0] for e in self.tu.events], ["request", "ack", "ack"])

    def test_non2xx_retransmitted_until_timer_h(self) -> None:
        """Timer G from T1 doubling to T2, Timer H at 64*T1 (§17.2.1)."""
        txn = self.invite()
        txn.reply(486, to_tag="t1")
        self.assertEqual(txn.state, State.COMPLETED)
        advance(self.clock, 31.99)
        self.assertEqual(self.wire.times(486), [0.0, *CAPPED])
        advance(self.clock, 32)
        self.assertEqual(self.tu.events[-1], ("timeout", "INVITE", TimeoutKind.NO_ACK))
        self.assertAllGone()

    def test_non2xx_ack_confirms(self) -> None:
        """ACK → Confirmed; Timer I (T4) absorbs ACK retransmissions."""
        txn = self.invite()
        txn.reply(486, to_tag="t1")
        advance(self.clock, 1.0)
        ack = request("ACK", to_tag="t1")  # same branch as the INVITE
        self.layer.receive(ack, PEER, "UDP")
        self.assertEqual(txn.state, State.CONFIRMED)
        self.layer.receive(request("ACK", to_tag="t1"), PEER, "UDP")
        self.invite()  # absorbed in Confirmed too
        advance(self.clock, 5.99)
        self.assertEqual(self.wire.times(486), [0.0, 0.5])
        self.assertEqual(len(self.layer), 1)
        advance(self.clock, 6.0)
        self.assertEqual(self.tu.events, [("request", "INVITE")])
        self.assertAllGone()

    def test_non2xx_retransmission_of_invite(self) -> None:
        """An INVITE retransmission in Completed gets the final again."""
        txn = self.invite()
        txn.reply(603, to_tag="t1")
        advance(self.clock, 0.25)
        self.invite()
        self.assertEqual(self.wire.times(603), [0.0, 0.25])

    def test_non2xx_over_tcp(self) -> None:
        """TCP: no Timer G; Timer H still 64*T1; ACK ends it at once (I=0)."""
        txn = self.invite("TCP")
        txn.reply(486, to_tag="t1")
        advance(self.clock, 10)
        self.assertEqual(self.wire.times(486), [0.0])
        self.layer.receive(request("ACK", to_tag="t1"), PEER, "TCP")
        self.assertEqual(txn.state, State.TERMINATED)
        self.assertAllGone()

    def test_non2xx_tcp_timer_h(self) -> None:
        txn = self.invite("TCP")
        txn.reply(486, to_tag="t1")
        advance(self.clock, 32)
        self.assertEqual(self.tu.events[-1], ("timeout", "INVITE", TimeoutKind.NO_ACK))
        self.assertAllGone()

    def test_second_final_discarded(self) -> None:
        """§17.2.1: after a final response, another one from the TU is dropped."""
        txn = self.invite()
        final = txn.reply(486, to_tag="t1")
        self.assertFalse(txn.respond(final))
        txn.reply(200, to_tag="t1")
        self.assertEqual(self.wire.sent(), [486])
        self.assertEqual(txn.state, State.COMPLETED)

    def test_late_ack_after_termination(self) -> None:
        """After Timer I the transaction is gone: a late ACK goes to the TU."""
        txn = self.invite()
        txn.reply(486, to_tag="t1")
        self.layer.receive(request("ACK", to_tag="t1"), PEER, "UDP")
        advance(self.clock, 5)
        self.layer.receive(request("ACK", to_tag="t1"), PEER, "UDP")
        self.assertEqual(self.tu.events[-1], ("ack", 1, PEER))
        self.assertAllGone()

    def test_transport_error(self) -> None:
        """A response that cannot be sent ends the transaction; TU told."""
        txn = self.invite()
        self.wire.fail_with = OSError("unreachable")
        txn.reply(180, to_tag="t1")
        self.assertEqual(self.tu.events[-1], ("transport_error", "INVITE"))
        self.assertEqual(txn.state, State.TERMINATED)
        self.assertAllGone()


class NonInviteServerTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock, self.wire, self.tu, self.layer = make_layer()

    def bye(self, transport: str = "UDP") -> object:
        self.layer.receive(request("BYE", to_tag="t1", cseq=2), PEER, transport)
        return self.tu.txns[-1]

    def test_final_and_timer_j(self) -> None:
        """Completed absorbs retransmissions with the final; Timer J = 64*T1."""
        txn = self.bye()
        self.assertEqual(txn.state, State.TRYING)
        txn.reply(200)
        self.assertEqual(txn.state, State.COMPLETED)
        advance(self.clock, 3)
        self.bye()
        self.assertEqual(self.wire.times(200), [0.0, 3.0])
        advance(self.clock, 31.99)
        self.assertEqual(len(self.layer), 1)
        advance(self.clock, 32)
        self.assertEqual(len(self.layer), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.tu.events, [("request", "BYE")])

    def test_tcp_terminates_at_once(self) -> None:
        """Timer J is zero on reliable transports."""
        txn = self.bye("TCP")
        txn.reply(200)
        self.assertEqual(txn.state, State.TERMINATED)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_trying_absorbs_and_proceeding_resends(self) -> None:
        """Trying: retransmissions absorbed; Proceeding: the 1xx is resent."""
        txn = self.bye()
        self.bye()
        self.assertEqual(self.wire.sent(), [])
        txn.reply(100)
        self.assertEqual(txn.state, State.PROCEEDING)
        self.bye()
        self.assertEqual(self.wire.sent(), [100, 100])
        txn.reply(200)
        self.assertEqual(self.wire.sent(), [100, 100, 200])
        self.assertEqual(self.tu.events, [("request", "BYE")])

    def test_transport_error(self) -> None:
        txn = self.bye()
        self.wire.fail_with = ConnectionRefusedError()
        txn.reply(200)
        self.assertEqual(self.tu.events[-1], ("transport_error", "BYE"))
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(len(self.layer), 0)
