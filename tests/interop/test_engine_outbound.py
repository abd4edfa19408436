"""
The engine as a UAC and a registering UA, against the real SIPp playing the
callee (C{scenarios/peer_*.xml}) or the registrar (C{peer_registrar.xml}),
on 127.0.0.1: C{dial()} answered with media both ways and hung up by either
side, challenged, refused, cancelled on its timeout; C{register()}
challenged, refreshed and removed when the engine stops.

Each test starts SIPp as a server first, then lets the engine call or
register with it, and checks SIPp's verdict, its message trace and what the
engine reported; L{EngineInteropCase} checks everything was released.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer, reactor

from roomkit_sip.engine import CallRejected, DialTimeout
from tests.interop import sipp
from tests.interop.test_engine_calls import EchoHandler, EngineInteropCase
from tests.support import audio

TONE_HZ = 1000.0
PEAK_DBFS = -12.0


class Talker(EchoHandler):
    """Plays a second of tone into each call it places, keeps what comes back."""

    def __init__(self) -> None:
        super().__init__()
        self.received = bytearray()

    def call_answered(self, call: Any) -> None:
        super().call_answered(call)
        call.send_audio(audio.tone(TONE_HZ, 1.0, peak_dbfs=PEAK_DBFS))
        call.end_of_response()

    def audio_received(self, call: Any, pcm: bytes) -> None:
        self.frames += 1
        self.received += pcm


class OutboundCase(EngineInteropCase):
    @defer.inlineCallbacks
    def callee(self, scenario: str, **options: Any):
        """SIPp serving C{scenario}, listening; stopped at cleanup."""
        peer = sipp.start_sipp(reactor, scenario, None, timeout_s=10.0, **options)
        self.addCleanup(peer.terminate)
        yield peer.when_ready()
        return peer

    def dial(self, peer: Any, **kw: Any) -> defer.Deferred[Any]:
        kw.setdefault("codecs", ["pcmu"])
        host, port = peer.address
        return self.engine.dial(f"sip:service@{host}:{port}", "sip:bot@127.0.0.1", peer.address,
                                **kw)  # fmt: skip


class DialTests(OutboundCase):
    @defer.inlineCallbacks
    def test_answered_media_and_our_bye(self):
        """
        INVITE/100/180/200/ACK, a second of tone echoed by SIPp (-rtp_echo)
        and heard back, then our BYE with a Q.850 Reason.
        """
        handler = Talker()
        engine = self.start_engine(handler)
        peer = yield self.callee("peer_answer.xml", rtp_echo=True)
        call = yield self.dial(peer, room_id="room-1")
        self.assertEqual(
            (call.direction, call.room_id, call.state), ("outbound", "room-1", "active")
        )
        self.assertEqual(call.metadata["codec"], "PCMU")
        self.assertEqual(handler.answered, [call])
        yield self.wait_until(lambda: len(handler.received) >= 2 * 8000 * 1.0, timeout=4.0)
        yield call.hangup(16, "Normal call clearing")
        result = yield peer.done
        result.assert_ok(calls=1)
        [invite] = result.received("INVITE")
        self.assertEqual(invite.header("CSeq"), ["1 INVITE"])
        self.assertIn("m=audio", invite.body)
        [bye] = result.received("BYE")
        self.assertEqual(bye.header("Reason"), ['Q.850;cause=16;text="Normal call clearing"'])
        self.assertEqual(len(result.received("ACK")), 1)
        # The echo of our tone came back whole: frequency, level, purity.
        middle = bytes(handler.received[8000 * 2 // 5 : 8000 * 2 * 4 // 5])
        analysis = audio.analyse_tone(
            middle, expected_hz=TONE_HZ, min_dbfs=PEAK_DBFS - 3.01 - 1.5,
            max_dbfs=PEAK_DBFS - 3.01 + 1.0, min_purity=0.98,
        )  # fmt: skip
        self.assertEqual(analysis.problems, [], analysis)
        stats = call.stats()
        self.assertGreaterEqual((stats["packets_out"], stats["packets_in"]), (48, 45))
        self.assertEqual(handler.ended, [call])
        self.assertEqual(call.metadata["disconnect_reason"], "local_hangup")
        self.assertEqual(engine.stats()["calls_total"], 1)

    @defer.inlineCallbacks
    def test_callee_hangs_up(self):
        """SIPp answers, then sends BYE with a Reason: the call ends remote_bye."""
        handler = EchoHandler()
        self.start_engine(handler)
        peer = yield self.callee(
            "peer_hangup.xml", pause_ms=300, keys={"bye_reason": 'Q.850;cause=16;text="done"'}
        )
        call = yield self.dial(peer)
        result = yield peer.done
        result.assert_ok(calls=1)
        self.assertEqual(handler.ended, [call])
        self.assertEqual(call.metadata["disconnect_reason"], "remote_bye")
        self.assertEqual(call.metadata["bye_reason"], {"cause": 16, "text": "done"})
        [ok] = [m for m in result.received(200) if m.header("CSeq") == ["1 BYE"]]
        self.assertTrue(ok)

    @defer.inlineCallbacks
    def test_digest_challenge(self):
        """401 (MD5, qop=auth), retried with credentials SIPp verifies, answered."""
        handler = EchoHandler()
        self.start_engine(handler)
        peer = yield self.callee(
            "peer_auth.xml", keys={"auth_user": "alice", "auth_password": "s3cret"}
        )
        call = yield self.dial(peer, credentials=("alice", "s3cret"), timeout=3)
        self.assertEqual(call.state, "active")
        yield call.hangup()
        result = yield peer.done
        result.assert_ok(calls=1)
        first, second = result.received("INVITE")
        self.assertEqual((first.header("CSeq"), second.header("CSeq")),
                         (["1 INVITE"], ["2 INVITE"]))  # fmt: skip
        self.assertEqual(first.header("Call-ID"), second.header("Call-ID"))
        self.assertEqual(first.header("Authorization"), [])
        self.assertIn('username="alice"', second.header("Authorization")[0])
        self.assertEqual(result.sent(403), [])

    @defer.inlineCallbacks
    def test_busy(self):
        """486: CallRejected(486), the 486 ACKed, nothing left behind."""
        handler = EchoHandler()
        self.start_engine(handler)
        peer = yield self.callee("peer_uas_busy.xml")
        failure = yield self.assertFailure(self.dial(peer), CallRejected)
        self.assertEqual((failure.status, failure.reason), (486, "Busy Here"))
        result = yield peer.done
        result.assert_ok(calls=1)
        self.assertEqual(len(result.received("ACK")), 1)
        self.assertEqual(handler.answered, [])

    @defer.inlineCallbacks
    def test_no_answer_cancelled_on_timeout(self):
        """SIPp rings and never answers: after 1 s our CANCEL, its 487 ACKed."""
        handler = EchoHandler()
        self.start_engine(handler)
        peer = yield self.callee("peer_cancel.xml")
        started = reactor.seconds()
        failure = yield self.assertFailure(self.dial(peer, timeout=1.0), DialTimeout)
        self.assertLess(abs(reactor.seconds() - started - 1.0), 0.3)
        self.assertIsNone(failure.status)
        result = yield peer.done
        result.assert_ok(calls=1)
        [cancel] = result.received("CANCEL")
        [invite] = result.received("INVITE")
        self.assertEqual(cancel.header("Via")[0], invite.header("Via")[0])
        self.assertEqual(len(result.sent(487)), 1)
        self.assertEqual(len(result.received("ACK")), 1)
        self.assertEqual(handler.answered, [])


class RegisterTests(OutboundCase):
    @defer.inlineCallbacks
    def test_challenge_refresh_and_unregister(self):
        """
        401, the REGISTER again with credentials, 200 for 2 s; the refresh
        1 s later (same Call-ID, next CSeq, nonce reused with nc 2); the
        engine stops: an un-REGISTER with expires=0.
        """
        engine = self.start_engine(EchoHandler())
        peer = yield self.callee(
            "peer_registrar.xml", keys={"auth_user": "alice", "auth_password": "s3cret"}
        )
        registration = engine.register(
            peer.address, username="alice", password="s3cret", domain="127.0.0.1"
        )
        yield registration.registered
        self.assertEqual(registration.granted, 2)
        yield self.wait_until(lambda: registration.refreshes >= 1, timeout=3.0)
        yield engine.stop()
        self.assertEqual(registration.state, "stopped")
        result = yield peer.done
        result.assert_ok(calls=1)
        registers = result.received("REGISTER")
        self.assertEqual(len(registers), 4)
        self.assertEqual({m.header("Call-ID")[0] for m in registers}, {registration.call_id})
        self.assertEqual([m.header("CSeq")[0] for m in registers],
                         [f"{n} REGISTER" for n in (1, 2, 3, 4)])  # fmt: skip
        refresh_gap = registers[2].time - registers[1].time
        self.assertLess(abs(refresh_gap - 1.0), 0.3, refresh_gap)
        self.assertIn("nc=00000002", registers[2].header("Authorization")[0])
        self.assertIn("expires=0", registers[3].header("Contact")[0])
        self.assertEqual(registers[3].header("Expires"), ["0"])
