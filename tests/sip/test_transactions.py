"""
L{TransactionLayer}: matching (§17.1.3, §17.2.3 and the RFC 2543 fallback),
CANCEL (§9.2), merged requests (482, §8.2.2.2), Max-Forwards 0 (483),
response routing (§18.2.2, RFC 3581), stray responses, TU isolation and
cleanup.
"""

import pathlib

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from roomkit_sip.sip import Request, Response, parse_message
from roomkit_sip.sip.transaction import State, TransactionClosed
from roomkit_sip.sip.transactions import ITransactionUser

from ._txn_support import PEER, RecordingTU, advance, make_layer, outgoing, request, response

RFC4475 = pathlib.Path(__file__).resolve().parent.parent / "data" / "rfc4475"


def torture(name: str) -> Request:
    message = parse_message((RFC4475 / name).read_bytes())
    assert isinstance(message, Request)
    return message


class _Base(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock, self.wire, self.tu, self.layer = make_layer(tag_factory=lambda: "layertag")

    def assertAllGone(self) -> None:
        self.assertEqual(len(self.layer), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class InterfaceTests(_Base):
    def test_recording_tu_provides(self) -> None:
        self.assertTrue(verifyObject(ITransactionUser, RecordingTU()))

    def test_tu_errors_are_contained(self) -> None:
        """An exception in the TU is logged; the layer carries on."""

        class Broken(RecordingTU):
            def request_received(self, txn, request):  # type: ignore[no-untyped-def]
                raise RuntimeError("boom")

        self.layer._tu = Broken()
        self.layer.receive(request("OPTIONS"), PEER, "UDP")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(len(self.layer), 1)


class CancelTests(_Base):
    def invite(self) -> object:
        self.layer.receive(request("INVITE"), PEER, "UDP")
        return self.tu.txns[-1]

    def cancel(self, **kw: object) -> Response:
        self.layer.receive(request("CANCEL", **kw), PEER, "UDP")  # type: ignore[arg-type]
        last = self.wire.last()
        assert isinstance(last, Response)
        return last

    def test_cancel_before_final(self) -> None:
        """
        §9.2: 200 to the CANCEL with the INVITE's To tag, the TU told once;
        the TU's 487 ends the INVITE, whose ACK is absorbed.
        """
        txn = self.invite()
        txn.reply(180, to_tag="t1")
        ok = self.cancel()
        self.assertEqual((ok.status, ok.cseq.method, ok.to.tag), (200, "CANCEL", "t1"))
        self.assertEqual(self.tu.events, [("request", "INVITE"), ("cancelled", "INVITE")])
        self.assertTrue(txn.cancelled)
        self.cancel()  # retransmitted CANCEL: 200 again, TU not told again
        self.assertEqual(self.wire.sent(), [180, 200, 200])
        self.assertEqual(len(self.tu.events), 2)
        txn.reply(487, to_tag="t1")
        self.layer.receive(request("ACK", to_tag="t1"), PEER, "UDP")
        self.assertEqual(txn.state, State.CONFIRMED)
        advance(self.clock, 40)
        self.assertEqual(len(self.tu.events), 2)
        self.assertAllGone()

    def test_cancel_before_any_response(self) -> None:
        """No tag was sent yet: the CANCEL's 200 carries a fresh one."""
        self.invite()
        self.assertEqual(self.cancel().to.tag, "layertag")
        self.assertEqual(self.tu.events[-1], ("cancelled", "INVITE"))

    def test_cancel_after_final(self) -> None:
        """Already answered: 200 to the CANCEL, no effect (§9.2)."""
        txn = self.invite()
        txn.reply(200, to_tag="t1")
        self.assertEqual(self.cancel().status, 200)
        self.assertEqual(self.tu.events, [("request", "INVITE")])
        self.assertFalse(txn.cancelled)

    def test_cancel_matching_nothing(self) -> None:
        """§9.2: 481 when no transaction matches."""
        self.invite()
        self.assertEqual(self.cancel(branch="z9hG4bKother").status, 481)
        self.assertEqual(self.cancel(via="SIP/2.0/UDP 192.0.2.99:5060").status, 481)
        self.assertEqual(self.tu.events, [("request", "INVITE")])

    def test_cancel_non_invite(self) -> None:
        """A CANCEL for a pending non-INVITE gets 200 and does nothing."""
        self.layer.receive(request("OPTIONS"), PEER, "UDP")
        self.assertEqual(self.cancel().status, 200)
        self.assertEqual(self.tu.events, [("request", "OPTIONS")])


class ScreeningTests(_Base):
    def test_merged_request(self) -> None:
        """§8.2.2.2: same From tag, Call-ID, CSeq, no To tag, another branch → 482."""
        self.layer.receive(request("INVITE"), PEER, "UDP")
        self.layer.receive(request("INVITE", branch="z9hG4bKforked"), ("192.0.2.2", 5060), "UDP")
        merged = self.wire.last()
        self.assertEqual((merged.status, merged.to.tag), (482, "layertag"))
        self.assertEqual(self.wire.log[-1][2], ("192.0.2.2", 5060))
        self.layer.receive(request("INVITE", branch="z9hG4bKforked"), ("192.0.2.2", 5060), "UDP")
        self.assertEqual(self.wire.sent(), [482, 482])
        self.assertEqual(self.tu.events, [("request", "INVITE")])
        self.layer.receive(
            request("ACK", branch="z9hG4bKforked", to_tag="layertag"), ("192.0.2.2", 5060), "UDP"
        )
        self.assertEqual(len(self.tu.events), 1)  # that ACK belonged to the 482

    def test_not_merged_with_to_tag_or_other_cseq(self) -> None:
        self.layer.receive(request("INVITE"), PEER, "UDP")
        self.layer.receive(request("INVITE", branch="z9hG4bK2", cseq=2), PEER, "UDP")
        self.layer.receive(request("INFO", branch="z9hG4bK3", to_tag="x"), PEER, "UDP")
        self.assertEqual([e[1] for e in self.tu.events], ["INVITE", "INVITE", "INFO"])

    def test_merge_window_ends_with_transaction(self) -> None:
        """Once the first transaction is gone, the same identifiers are new again."""
        self.layer.receive(request("OPTIONS"), PEER, "TCP")
        self.tu.txns[-1].reply(200, to_tag="t")
        self.layer.receive(request("OPTIONS", branch="z9hG4bK2"), PEER, "TCP")
        self.assertEqual([e[1] for e in self.tu.events], ["OPTIONS", "OPTIONS"])

    def test_max_forwards_zero(self) -> None:
        """483, not shown to the TU; the 483 is ACKed like any final."""
        self.layer.receive(request("INVITE", max_forwards=0), PEER, "UDP")
        self.assertEqual(self.wire.sent(), [483])
        self.assertEqual(self.tu.events, [])
        self.layer.receive(request("ACK", to_tag="layertag", max_forwards=0), PEER, "UDP")
        advance(self.clock, 5)
        self.assertEqual(self.tu.events, [])
        self.assertAllGone()

    def test_max_forwards_zero_no_timeout_report(self) -> None:
        """The layer's own 483 never reaches the TU, even when unacknowledged."""
        self.layer.receive(request("INVITE", max_forwards=0), PEER, "UDP")
        advance(self.clock, 40)
        self.assertEqual(self.tu.events, [])
        self.assertAllGone()

    def test_zeromf_options(self) -> None:
        """RFC 4475 §3.3.11: OPTIONS with Max-Forwards 0 is answered by the TU."""
        self.layer.receive(torture("zeromf.dat"), PEER, "UDP")
        self.assertEqual(self.tu.events, [("request", "OPTIONS")])


class Rfc2543Tests(_Base):
    def test_badbranch(self) -> None:
        """
        RFC 4475 §3.2.1: a bare magic cookie identifies nothing; RFC 2543
        matching still recognises the retransmission.
        """
        self.layer.receive(torture("badbranch.dat"), PEER, "UDP")
        txn = self.tu.txns[-1]
        txn.reply(200, to_tag="t1")
        self.layer.receive(torture("badbranch.dat"), PEER, "UDP")
        self.assertEqual(self.tu.events, [("request", "OPTIONS")])
        self.assertEqual(self.wire.sent(), [200, 200])

    def test_inv2543_non2xx(self) -> None:
        """
        RFC 4475 §3.4.1: an INVITE without branch; its retransmission and
        its ACK (matched by the To tag of our response) join the transaction.
        """
        self.layer.receive(torture("inv2543.dat"), PEER, "UDP")
        txn = self.tu.txns[-1]
        self.layer.receive(torture("inv2543.dat"), PEER, "UDP")
        self.assertEqual(self.tu.events, [("request", "INVITE")])
        final = txn.reply(486, to_tag="t2543")
        ack = self._ack_for(torture("inv2543.dat"), final)
        self.layer.receive(ack, PEER, "UDP")
        self.assertEqual(txn.state, State.CONFIRMED)
        self.assertEqual(len(self.tu.events), 1)

    def test_inv2543_other_request_uri(self) -> None:
        """
        A different Request-URI is not a retransmission: with the same
        From tag, Call-ID and CSeq it is a merged request (482).
        """
        self.layer.receive(torture("inv2543.dat"), PEER, "UDP")
        other = torture("inv2543.dat")
        other.uri = "sip:UserC@example.com"
        self.layer.receive(other, PEER, "UDP")
        self.assertEqual(self.tu.events, [("request", "INVITE")])
        self.assertEqual(self.wire.sent(), [482])

    def test_inv2543_2xx_ack(self) -> None:
        """The ACK of a 2xx stops its retransmission and reaches the TU."""
        self.layer.receive(torture("inv2543.dat"), PEER, "UDP")
        txn = self.tu.txns[-1]
        final = txn.reply(200, to_tag="t2543")
        advance(self.clock, 1.0)
        self.layer.receive(self._ack_for(torture("inv2543.dat"), final), PEER, "UDP")
        self.assertEqual(self.tu.events[-1], ("ack", 56, PEER))
        advance(self.clock, 40)
        self.assertEqual(self.wire.times(200), [0.0, 0.5])
        self.assertAllGone()

    def _ack_for(self, invite: Request, final: Response) -> Request:
        # An RFC 2543 client's ACK: the INVITE's Request-URI, Via, From,
        # Call-ID and CSeq number, and the To of our final response.
        headers = invite.headers.copy()
        headers.set("To", final.headers.get("To"))
        headers.set("CSeq", f"{invite.cseq.seq} ACK")
        headers.remove("Content-Type")
        ack = Request("ACK", invite.uri, headers)
        self.assertEqual(ack.to.tag, final.to.tag)
        return ack


class ResponseRoutingTests(_Base):
    def test_rport_and_received(self) -> None:
        """Responses go to the source port when rport was asked (RFC 3581)."""
        req = request("OPTIONS", via="SIP/2.0/UDP 10.0.0.7:5060;rport")
        self.layer.receive(req, ("198.51.100.4", 40123), "UDP")
        self.tu.txns[-1].reply(200, to_tag="t")
        self.assertEqual(self.wire.log[-1][2:], (("198.51.100.4", 40123), "UDP"))
        via = self.wire.last().top_via
        self.assertEqual((via.received, via.rport), ("198.51.100.4", 40123))

    def test_received_without_rport(self) -> None:
        req = request("OPTIONS", via="SIP/2.0/UDP 10.0.0.7:5070")
        self.layer.receive(req, ("198.51.100.4", 40123), "UDP")
        self.tu.txns[-1].reply(200, to_tag="t")
        self.assertEqual(self.wire.log[-1][2], ("198.51.100.4", 5070))

    def test_stamped_request_still_matches(self) -> None:
        """Retransmissions match on the Via as sent, not as stamped."""
        for _ in range(2):
            req = request("INVITE", via="SIP/2.0/UDP 10.0.0.7:5060;rport", branch=None)
            self.layer.receive(req, ("198.51.100.4", 40123), "UDP")
        self.assertEqual(len(self.tu.events), 1)


class ResponseMatchingTests(_Base):
    def test_stray_response(self) -> None:
        """§18.1.2: a response matching nothing goes to the TU."""
        self.layer.receive(response(request("BYE"), 200), PEER, "UDP")
        self.assertEqual(self.tu.events, [("stray", 200, "BYE")])

    def test_two_vias_dropped(self) -> None:
        """§8.1.3.3: a UAC drops responses with more than one Via."""
        req = request("BYE", via="SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKa, SIP/2.0/UDP x")
        self.layer.receive(response(req, 200), PEER, "UDP")
        self.assertEqual(self.tu.events, [])

    def test_malformed_dropped(self) -> None:
        """A message whose matching fields cannot be read is dropped."""
        bad = request("BYE")
        bad.headers.set("CSeq", "not a cseq")
        self.layer.receive(bad, PEER, "UDP")
        self.assertEqual((self.tu.events, self.wire.sent()), ([], []))


class LifecycleTests(_Base):
    def test_close_cancels_everything(self) -> None:
        self.layer.receive(request("INVITE"), PEER, "UDP")
        self.tu.txns[-1].reply(200, to_tag="t")
        self.layer.receive(request("BYE", branch="z9hG4bKbye", to_tag="t", cseq=2), PEER, "UDP")
        client = self.layer.request(outgoing("OPTIONS"), PEER, "UDP")
        self.assertEqual(len(self.layer), 3)
        self.layer.close()
        self.failureResultOf(client.final, TransactionClosed)
        self.assertAllGone()

    def test_many_flows_leave_nothing(self) -> None:
        """Memory is bounded: every finished transaction is forgotten."""
        for i in range(50):
            self.layer.receive(request("OPTIONS", branch=f"z9hG4bKo{i}", cseq=i + 1), PEER, "UDP")
            self.tu.txns[-1].reply(200, to_tag="t")
            self.layer.receive(
                request("INVITE", branch=f"z9hG4bKi{i}", call_id=f"c{i}"), PEER, "UDP"
            )
            self.tu.txns[-1].reply(486, to_tag="t")
        self.assertEqual(len(self.layer), 100)
        advance(self.clock, 40)
        self.assertAllGone()
        self.assertTrue(self.layer._servers.empty)
        self.assertEqual(self.layer._clients, {})
