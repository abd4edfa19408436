"""
The call engine against the real SIPp, on 127.0.0.1: one scenario per
behaviour a carrier or PBX relies on.

Each test starts a L{SIPEngine} in the test's real reactor (port 0, RTP on a
private range), lets SIPp call it with a C{scenarios/uac_*.xml} client
scenario, checks both SIPp's verdict and what the engine saw, and ends with
the engine stopped and every port, call and timer it had released.  Timers
are shortened where the behaviour under test waits for one (T1 for the ACK
timeout, the RTP inactivity timeout), so the whole module runs in well under
a minute.
"""

from __future__ import annotations

import random
from typing import Any

from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from roomkit_sip.codecs.registry import resolve_codecs
from roomkit_sip.engine import CallHandler, EngineConfig, SIPEngine
from tests.interop import sipp

#: Where the engine under test takes its RTP ports: below the ephemeral range,
#: where SIPp's own ports (picked by the OS) never fall.  Each engine takes a
#: random block of it, so test runs sharing a machine rarely meet (and the
#: allocator skips a port another process holds).
RTP_SPAN = (20000, 30000)
RTP_BLOCK = 1000


def rtp_range() -> tuple[int, int]:
    start = random.randrange(RTP_SPAN[0], RTP_SPAN[1] - RTP_BLOCK, 2)
    return start, start + RTP_BLOCK


TONE_HZ = 1000.0
PEAK_DBFS = -12.0


class EchoHandler(CallHandler):
    """Echoes caller audio back at once; records everything that happens."""

    def __init__(self) -> None:
        self.incoming: list[Any] = []
        self.answered: list[Any] = []
        self.dtmf: list[Any] = []
        self.ended: list[Any] = []
        self.frames = 0

    def incoming_call(self, incoming: Any) -> Any:
        self.incoming.append(incoming)
        return None

    def call_answered(self, call: Any) -> None:
        self.answered.append(call)

    def audio_received(self, call: Any, pcm: bytes) -> None:
        self.frames += 1
        call.send_audio_now(pcm)

    def dtmf_received(self, call: Any, event: Any) -> None:
        self.dtmf.append(event)

    def call_ended(self, call: Any) -> None:
        self.ended.append(call)


class SlowAnswer(EchoHandler):
    """Rings, and would answer only after C{delay} seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.verdicts: list[defer.Deferred[Any]] = []
        self.cancelled: list[type] = []

    def incoming_call(self, incoming: Any) -> Any:
        self.incoming.append(incoming)
        incoming.ring()
        d = task.deferLater(reactor, self.delay, lambda: None)
        self.verdicts.append(d)
        d.addErrback(self._record)
        return d

    def _record(self, failure: Any) -> Any:
        self.cancelled.append(failure.type)
        return failure


class HangsUp(EchoHandler):
    """Hangs up C{after} seconds into each call, with Q.850 cause 16."""

    def __init__(self, after: float) -> None:
        super().__init__()
        self.after = after

    def call_answered(self, call: Any) -> None:
        super().call_answered(call)
        reactor.callLater(self.after, call.hangup, 16, "Normal call clearing")


class EngineInteropCase(unittest.TestCase):
    """Starts an engine per test and checks it let go of everything."""

    timeout = 60

    def setUp(self) -> None:
        sipp.require_sipp()

    def start_engine(self, handler: Any, **changes: Any) -> SIPEngine:
        settings: dict[str, Any] = {
            "sip_host": "127.0.0.1",
            "sip_port": 0,
            "rtp_ip": "127.0.0.1",
            "codecs": tuple(resolve_codecs("pcmu,pcma,g722")),
            "port_quarantine": 0.5,
        }
        settings["rtp_port_start"], settings["rtp_port_end"] = rtp_range()
        settings.update(changes)
        engine = SIPEngine(reactor, EngineConfig(**settings), handler)
        self.successResultOf(engine.start())
        self.engine = engine
        self.addCleanup(self._stop, engine)
        return engine

    @defer.inlineCallbacks
    def _stop(self, engine: SIPEngine):
        yield engine.stop()
        services = engine._services
        self.assertEqual(services.allocator.allocated, 0)
        self.assertTrue(services.registry.empty, services.registry.counts())
        self.assertEqual(len(engine._transactions), 0)
        self.assertEqual(len(services.dialogs), 0)

    @property
    def remote(self) -> tuple[str, int]:
        return self.engine.local_sip_addr

    def media(self):
        sipp.require_raw_sockets()
        sink = sipp.listen_rtp_sink(reactor)
        self.addCleanup(sink.stop)
        return sink

    @defer.inlineCallbacks
    def wait_until(self, condition, timeout: float = 5.0):
        """Poll C{condition()} on the reactor until true (bounded)."""
        deadline = reactor.seconds() + timeout
        while not condition():
            if reactor.seconds() > deadline:
                self.fail("condition not met in time")
            yield task.deferLater(reactor, 0.02, lambda: None)

    def assert_echo(self, sink, seconds: float) -> None:
        sipp.assert_echo(self, sink, seconds)


class BasicCallTests(EngineInteropCase):
    @defer.inlineCallbacks
    def test_basic_call_with_echo(self):
        """
        (a) INVITE/100/180/200/ACK, a second of PCMU tone echoed back by the
        application, BYE/200: the caller hears its own tone.
        """
        handler = EchoHandler()
        self.start_engine(handler)
        sink = self.media()
        result = yield sipp.echo_call(reactor, self.remote, sink)
        result.assert_ok(calls=1)
        self.assertEqual([r.status for r in result.received(100)], [100])
        self.assertEqual(len(result.received(180)), 1)
        self.assert_echo(sink, 1.0)
        [call] = handler.answered
        self.assertEqual(handler.ended, [call])
        self.assertEqual(call.metadata["disconnect_reason"], "remote_bye")
        self.assertEqual(call.metadata["codec"], "PCMU")
        self.assertGreaterEqual(call.stats()["packets_in"], 50)
        self.assertGreaterEqual(call.stats()["packets_out"], 45)


class AuthTests(EngineInteropCase):
    def authenticator(self):
        from roomkit_sip.auth.authenticator import DigestAuthenticator
        from roomkit_sip.auth.providers import DictAuthProvider

        # SIPp answers MD5 only, and gives up if the first challenge is
        # SHA-256: MD5 first here (the engine's default is SHA-256 first).
        # Its digest-uri is the Request-URI without the user part
        # ("sip:127.0.0.1:port"), so compare host and port only.
        return DigestAuthenticator(
            DictAuthProvider({"alice": "s3cret"}),
            "roomkit-interop",
            b"0123456789abcdef0123456789abcdef",
            reactor,
            algorithms=("MD5", "SHA-256"),
        )

    @defer.inlineCallbacks
    def test_digest_auth(self):
        """(b) 401 with a challenge, then the authenticated INVITE is answered."""
        handler = EchoHandler()
        self.start_engine(handler, auth=self.authenticator())
        result = yield sipp.run_sipp(
            reactor, "uac_auth.xml", remote=self.remote, auth=("alice", "s3cret")
        )
        result.assert_ok(calls=1)
        [challenge] = result.received(401)
        self.assertIn('realm="roomkit-interop"', challenge.header("WWW-Authenticate")[0])
        [incoming] = handler.incoming
        self.assertEqual(incoming.authenticated_user, "alice")
        self.assertEqual(len(handler.ended), 1)
        self.assertEqual(self.engine.stats()["rejected"], {401: 1})

    @defer.inlineCallbacks
    def test_wrong_password(self):
        """(c) 401, then 403 to the retry with a wrong password."""
        handler = EchoHandler()
        self.start_engine(handler, auth=self.authenticator())
        result = yield sipp.run_sipp(
            reactor, "uac_auth_wrong_password.xml", remote=self.remote, auth=("alice", "nope")
        )
        result.assert_ok(calls=1)
        [forbidden] = result.received(403)
        self.assertEqual(forbidden.header("CSeq"), ["2 INVITE"])
        self.assertEqual(handler.incoming, [])
        stats = self.engine.stats()
        self.assertEqual((stats["rejected"], stats["auth_failures"]), ({401: 1, 403: 1}, 1))


class SetupFailureTests(EngineInteropCase):
    @defer.inlineCallbacks
    def test_cancel_before_answer(self):
        """
        (d) The application rings and takes its time; the caller's CANCEL
        wins: 200 to the CANCEL, 487 to the INVITE, the verdict cancelled,
        the RTP ports freed, nothing answered.
        """
        handler = SlowAnswer(delay=10.0)
        self.start_engine(handler)
        result = yield sipp.run_sipp(reactor, "uac_cancel.xml", remote=self.remote)
        result.assert_ok(calls=1)
        self.assertEqual(len(result.received(487)), 1)
        self.assertEqual(handler.cancelled, [defer.CancelledError])
        self.assertEqual((handler.answered, handler.ended), ([], []))
        self.assertEqual(self.engine._services.allocator.allocated, 0)
        self.assertEqual(self.engine.stats()["cancelled"], 1)

    @defer.inlineCallbacks
    def test_unsupported_codec(self):
        """(e) GSM and G.729 only: 488 with a Warning, no port bound."""
        handler = EchoHandler()
        self.start_engine(handler)
        result = yield sipp.run_sipp(reactor, "uac_unsupported_codec.xml", remote=self.remote)
        result.assert_ok(calls=1)
        [rejection] = result.received(488)
        self.assertIn("305", rejection.header("Warning")[0])
        self.assertEqual(handler.incoming, [])
        self.assertEqual(self.engine._services.allocator.stats()["in_quarantine"], 0)


class DTMFTests(EngineInteropCase):
    @defer.inlineCallbacks
    def test_rfc4733_digits_once_each(self):
        """(f) "1" then "#" as telephone-events: one DTMFEvent per key press."""
        handler = EchoHandler()
        self.start_engine(handler)
        sink = self.media()
        result = yield sipp.run_sipp(
            reactor,
            "uac_dtmf_rfc4733.xml",
            remote=self.remote,
            rtp_sink=sink,
            files=sipp.media_files(seconds=0.4),
            pause_ms=500,
        )
        result.assert_ok(calls=1)
        self.assertEqual([(e.digit, e.source) for e in handler.dtmf],
                         [("1", "rfc4733"), ("#", "rfc4733")])  # fmt: skip
        self.assertTrue(all(e.duration_ms > 0 for e in handler.dtmf))

    @defer.inlineCallbacks
    def test_info_dtmf(self):
        """(l) INFO with application/dtmf-relay and application/dtmf: two 5s."""
        handler = EchoHandler()
        self.start_engine(handler)
        result = yield sipp.run_sipp(reactor, "uac_info_dtmf.xml", remote=self.remote)
        result.assert_ok(calls=1)
        self.assertEqual(
            [(e.digit, e.duration_ms, e.source) for e in handler.dtmf],
            [("5", 160.0, "info"), ("5", 0.0, "info")],
        )


class MidCallTests(EngineInteropCase):
    @defer.inlineCallbacks
    def test_hold_and_unhold(self):
        """
        (g) re-INVITE a=sendonly: answered a=recvonly with a new o= version,
        and our echo stops while held; re-INVITE a=sendrecv: answered
        sendrecv, and the echo resumes.
        """
        handler = EchoHandler()
        self.start_engine(handler)
        sink = self.media()
        result = yield sipp.run_sipp(
            reactor,
            "uac_hold_unhold.xml",
            remote=self.remote,
            rtp_sink=sink,
            files=sipp.media_files(seconds=1.6),
            pause_ms=500,
        )
        result.assert_ok(calls=1)
        oks = [m for m in result.received(200) if m.header("CSeq")[0].endswith("INVITE")]
        answers = [m.body for m in oks]
        self.assertEqual(len(answers), 3)
        self.assertIn("a=sendrecv", answers[0])
        self.assertIn("a=recvonly", answers[1])
        self.assertIn("a=sendrecv", answers[2])
        versions = [a.split("o=", 1)[1].split()[2] for a in answers]
        self.assertEqual(len(set(versions)), 3, versions)
        held, resumed = oks[1].time, oks[2].time
        echo = [a.time for a in sink.stream(0)]
        self.assertTrue(any(t < held for t in echo))
        self.assertEqual([t for t in echo if held + 0.1 < t < resumed], [])
        self.assertTrue(any(t > resumed + 0.1 for t in echo))
        [call] = handler.ended
        self.assertEqual(call.metadata["disconnect_reason"], "remote_bye")

    @defer.inlineCallbacks
    def test_server_hangup_with_reason(self):
        """(j) The application hangs up with cause 16: BYE with a Q.850 Reason."""
        handler = HangsUp(after=0.2)
        self.start_engine(handler)
        result = yield sipp.run_sipp(reactor, "uac_server_hangup_reason.xml", remote=self.remote)
        result.assert_ok(calls=1)
        [bye] = result.received("BYE")
        self.assertEqual(bye.header("Reason"), ['Q.850;cause=16;text="Normal call clearing"'])
        [call] = handler.ended
        self.assertEqual(call.metadata["disconnect_reason"], "local_hangup")

    @defer.inlineCallbacks
    def test_options(self):
        """(k) OPTIONS: 200 with Allow, Accept and Supported."""
        self.start_engine(EchoHandler())
        result = yield sipp.run_sipp(reactor, "uac_options.xml", remote=self.remote)
        result.assert_ok(calls=1)
        self.assertIn("INFO, accept application/sdp supported  timer", result.logs)


class ReaperTests(EngineInteropCase):
    @defer.inlineCallbacks
    def test_no_ack(self):
        """
        (h) The caller never ACKs: the 200 is retransmitted with backoff, and
        after 64*T1 (T1 = 50 ms: 3.2 s) the engine sends BYE.
        """
        handler = EchoHandler()
        self.start_engine(handler, t1=0.05, t2=0.4)
        result = yield sipp.run_sipp(reactor, "uac_no_ack.xml", remote=self.remote)
        result.assert_ok(calls=1)
        copies = [m.time for m in result.received(200)]
        self.assertGreater(len(copies), 5)
        [bye] = result.received("BYE")
        self.assertLess(abs(bye.time - copies[0] - 3.2), 0.4, bye.time - copies[0])
        [call] = handler.ended
        self.assertEqual(call.metadata["disconnect_reason"], "ack_timeout")

    @defer.inlineCallbacks
    def test_caller_disappears(self):
        """
        (i) RTP stops: after the inactivity timeout (1 s here) the engine
        sends BYE with a Reason, and the call ends as media_lost.
        """
        handler = EchoHandler()
        self.start_engine(handler, rtp_inactivity_timeout=1.0)
        sink = self.media()
        result = yield sipp.run_sipp(
            reactor,
            "uac_media_stops.xml",
            remote=self.remote,
            rtp_sink=sink,
            files=sipp.media_files(seconds=0.3),
        )
        result.assert_ok(calls=1)
        [bye] = result.received("BYE")
        last_rtp = max(a.time for a in sink.arrivals)
        self.assertGreater(bye.time - last_rtp, 0.8)
        self.assertIn("cause=102", bye.header("Reason")[0])
        [call] = handler.ended
        self.assertEqual(call.metadata["disconnect_reason"], "media_lost")


class TCPTests(EngineInteropCase):
    @defer.inlineCallbacks
    def test_tcp_call(self):
        """(m) The basic call over TCP, echo included."""
        handler = EchoHandler()
        self.start_engine(handler, transports=("udp", "tcp"))
        sink = self.media()
        result = yield sipp.run_sipp(
            reactor,
            "uac_basic_rtp.xml",
            remote=self.remote,
            transport="t1",
            rtp_sink=sink,
            files=sipp.media_files(tone_hz=TONE_HZ, seconds=0.5, peak_dbfs=PEAK_DBFS),
            pause_ms=700,
        )
        result.assert_ok(calls=1)
        self.assertEqual({m.transport for m in result.traced()}, {"TCP"})
        [ok] = [m for m in result.received(200) if m.header("CSeq") == ["1 INVITE"]]
        self.assertIn("transport=tcp", ok.header("Contact")[0])
        self.assert_echo(sink, 0.5)
        self.assertEqual(len(handler.ended), 1)
