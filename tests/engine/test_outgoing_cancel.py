"""
Calls the engine places, when they do not simply get answered: the dial's
timeout and CANCEL (RFC 3261 §9.1), cancelling the Deferred in each phase,
2xx retransmissions and forks (§13.2.2.4, RFC 6026), and the engine
stopping with calls being placed.
"""

from __future__ import annotations

from twisted.internet.defer import CancelledError
from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.engine import CallFailed, DialTimeout
from tests.engine._peer import PEER_IP, Harness, fired, offer_sdp
from tests.engine.test_outgoing import CHALLENGE, Callee, dial, released


class TimeoutTests(SynchronousTestCase):
    def test_timeout_while_ringing(self) -> None:
        """No answer in time: DialTimeout at once, CANCEL, 487 ACKed."""
        h = Harness()
        callee = Callee(h)
        d = dial(h, timeout=5)
        invite = callee.invite()
        callee.respond(invite, 180)
        h.advance(4.9)
        self.assertNoResult(d)
        self.assertEqual(callee.requests("CANCEL"), [])
        h.advance(0.1)
        error = self.failureResultOf(d, DialTimeout).value
        self.assertIsNone(error.status)
        self.assertIsInstance(error, TimeoutError)
        self.assertIsInstance(error, CallFailed)
        [cancel] = callee.requests("CANCEL")
        self.assertEqual(cancel.top_via.branch, invite.top_via.branch)  # §9.1
        self.assertEqual((cancel.cseq.seq, cancel.uri), (1, invite.uri))
        self.assertEqual(h.services.allocator.allocated, 0)  # freed at once
        self.assertEqual(h.engine.stats()["calls_pending"], 0)
        callee.respond(cancel, 200)
        callee.respond(invite, 487)
        [ack] = callee.requests("ACK")
        self.assertEqual(ack.top_via.branch, invite.top_via.branch)
        self.assertEqual(h.handler.kinds(), [])
        released(self, h)

    def test_timeout_before_any_response(self) -> None:
        """§9.1: no CANCEL until a provisional arrives; then at once."""
        h = Harness()
        callee = Callee(h)
        d = dial(h, timeout=2)
        h.advance(2.0)
        self.failureResultOf(d, DialTimeout)
        self.assertEqual(callee.requests("CANCEL"), [])
        invite = callee.invite()
        callee.respond(invite, 100)
        [cancel] = callee.requests("CANCEL")
        callee.respond(cancel, 200)
        callee.respond(invite, 487)
        released(self, h)

    def test_timeout_and_silence(self) -> None:
        """Nothing ever answers: no CANCEL at all, the INVITE ends at Timer B."""
        h = Harness()
        callee = Callee(h)
        d = dial(h, timeout=2)
        h.advance(2.0)
        self.failureResultOf(d, DialTimeout)
        h.advance(40.0)
        self.assertEqual(callee.requests("CANCEL"), [])
        self.assertGreater(len(callee.requests("INVITE")), 3)  # retransmitted meanwhile
        released(self, h)

    def test_answer_racing_the_cancel(self) -> None:
        """A 2xx after we gave up: ACK, then BYE (§15), no call."""
        h = Harness()
        callee = Callee(h)
        d = dial(h, timeout=1)
        invite = callee.invite()
        callee.respond(invite, 180)
        h.advance(1.0)
        self.failureResultOf(d, DialTimeout)
        [cancel] = callee.requests("CANCEL")
        callee.respond(cancel, 200)
        ok = callee.respond(invite, 200, body=offer_sdp())
        [ack] = callee.requests("ACK")
        self.assertEqual((ack.to.tag, ack.cseq.seq), ("callee-1", 1))
        [bye] = callee.requests("BYE")
        self.assertEqual(bye.headers.get("Reason"), 'Q.850;cause=16;text="call attempt abandoned"')
        self.assertEqual(bye.cseq.seq, 2)
        callee.send(ok)  # retransmitted: ACKed again, no second BYE
        self.assertEqual([len(callee.requests(m)) for m in ("ACK", "BYE")], [2, 1])
        callee.respond(bye, 200)
        self.assertEqual(h.handler.kinds(), [])
        self.assertEqual(h.engine.list_sessions(), [])
        released(self, h)


class CancelTests(SynchronousTestCase):
    def test_cancel_before_any_response(self) -> None:
        h = Harness()
        callee = Callee(h)
        d = dial(h)
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertEqual(callee.requests("CANCEL"), [])
        self.assertEqual(h.services.allocator.allocated, 0)
        invite = callee.invite()
        callee.respond(invite, 180)
        [cancel] = callee.requests("CANCEL")
        callee.respond(cancel, 200)
        callee.respond(invite, 487)
        released(self, h)

    def test_cancel_while_ringing(self) -> None:
        h = Harness()
        callee = Callee(h)
        d = dial(h)
        invite = callee.invite()
        callee.respond(invite, 180)
        d.cancel()
        self.failureResultOf(d, CancelledError)
        [cancel] = callee.requests("CANCEL")
        self.assertEqual(cancel.top_via.branch, invite.top_via.branch)
        callee.respond(cancel, 200)
        callee.respond(invite, 487)
        self.assertEqual(len(callee.requests("ACK")), 1)
        released(self, h)

    def test_cancel_during_the_auth_retry(self) -> None:
        """The CANCEL goes to the INVITE in progress: the retry (CSeq 2)."""
        h = Harness()
        callee = Callee(h)
        d = dial(h, credentials=("alice", "s3cret"))
        callee.respond(callee.invite(), 401, headers=[("WWW-Authenticate", CHALLENGE)])
        retry = callee.invite()
        callee.respond(retry, 100)
        d.cancel()
        self.failureResultOf(d, CancelledError)
        [cancel] = callee.requests("CANCEL")
        self.assertEqual((cancel.cseq.seq, cancel.top_via.branch), (2, retry.top_via.branch))
        callee.respond(cancel, 200)
        callee.respond(retry, 487)
        released(self, h)

    def test_cancel_after_the_answer_does_nothing(self) -> None:
        h = Harness()
        callee = Callee(h)
        d = dial(h)
        callee.answer()
        call = fired(d)
        d.cancel()
        self.assertEqual(call.state, "active")
        self.assertEqual(callee.requests("CANCEL") + callee.requests("BYE"), [])

    def test_cancel_after_a_refusal_does_nothing(self) -> None:
        h = Harness()
        callee = Callee(h)
        d = dial(h)
        callee.respond(callee.invite(), 603)
        self.failureResultOf(d, CallFailed)
        d.cancel()
        self.assertEqual(callee.requests("CANCEL"), [])
        released(self, h)


class RetransmissionAndForkTests(SynchronousTestCase):
    def test_2xx_retransmissions_acked_again(self) -> None:
        """§13.2.2.4: the same ACK for every copy, during and after Timer M."""
        h = Harness()
        callee = Callee(h)
        d = dial(h)
        ok = callee.answer()
        call = fired(d)
        callee.send(ok)
        h.advance(40.0)  # Timer M (64*T1) is over: the copy is a stray response
        callee.send(ok)
        acks = callee.requests("ACK")
        self.assertEqual(len(acks), 3)
        self.assertEqual({bytes(a) for a in acks}, {bytes(acks[0])})
        self.assertEqual(h.handler.kinds(), ["answered"])
        self.assertEqual(call.state, "active")

    def test_second_fork_acked_and_ended(self) -> None:
        """Two branches answer: the first is the call, the second gets ACK and BYE."""
        h = Harness()
        callee = Callee(h)
        other = Callee(h, (PEER_IP, 5070))
        d = dial(h)
        invite = callee.invite()
        callee.respond(invite, 180, tag="branch-a")
        callee.respond(invite, 180, tag="branch-b")
        callee.respond(invite, 200, tag="branch-a", body=offer_sdp())
        call = fired(d)
        # The second 200 names its own Contact (another phone at 5070).
        second = callee.respond(
            invite, 200, tag="branch-b", body=offer_sdp(port=40010),
            headers=[("Contact", f"<sip:bob@{PEER_IP}:5070>")],
        )  # fmt: skip
        [ack] = other.requests("ACK")
        [bye] = other.requests("BYE")
        self.assertEqual((ack.to.tag, bye.to.tag), ("branch-b", "branch-b"))
        reason = bye.headers.get("Reason")
        self.assertEqual(reason, 'SIP;cause=200;text="Call completed elsewhere"')
        other.send(second)  # retransmitted: ACKed again only
        self.assertEqual([len(other.requests(m)) for m in ("ACK", "BYE")], [2, 1])
        other.respond(bye, 200)
        self.assertEqual(call.state, "active")
        self.assertEqual(call.dialog.remote_tag, "branch-a")
        self.assertEqual(h.handler.kinds(), ["answered"])
        self.assertEqual(callee.requests("BYE"), [])
        call.hangup()
        [call_bye] = callee.requests("BYE")
        callee.respond(call_bye, 200)
        released(self, h)


class StopTests(SynchronousTestCase):
    def test_stop_cancels_calls_being_placed_and_ends_answered_ones(self) -> None:
        h = Harness()
        ringing_callee = Callee(h)
        ringing = dial(h)
        ringing_invite = ringing_callee.invite()
        ringing_callee.respond(ringing_invite, 180)
        answered = dial(h)
        second_invite = ringing_callee.distinct("INVITE")[-1]
        ok = ringing_callee.respond(second_invite, 200, body=offer_sdp(), tag="t2")
        call = fired(answered)
        stopped = h.engine.stop()
        error = self.failureResultOf(ringing, CallFailed).value
        self.assertEqual(error.reason, "the engine is stopping")
        [cancel] = ringing_callee.requests("CANCEL")
        [bye] = ringing_callee.requests("BYE")
        self.assertEqual(bye.call_id, ok.call_id)
        self.assertIn("cause=16", bye.headers.get("Reason"))
        self.assertEqual(call.metadata["disconnect_reason"], "shutdown")
        self.assertNoResult(stopped)
        ringing_callee.respond(cancel, 200)
        ringing_callee.respond(ringing_invite, 487)
        ringing_callee.respond(bye, 200)
        fired(stopped)
        self.assertEqual(len(h.engine._transactions), 0)
        self.assertEqual(h.reactor.getDelayedCalls(), [])

    def test_stop_does_not_wait_forever_for_a_silent_callee(self) -> None:
        h = Harness()
        callee = Callee(h)
        ringing = dial(h)
        callee.respond(callee.invite(), 180)
        stopped = h.engine.stop()
        self.failureResultOf(ringing, CallFailed)
        h.advance(4.9)
        self.assertNoResult(stopped)
        h.advance(0.2)
        fired(stopped)
        self.assertEqual(len(h.engine._transactions), 0)
