"""
The INVITE pipeline: every answer an INVITE can get before it is a call,
the application's hook (automatic, rejecting, failing, slow, manual), CANCEL
winning over a slow hook, late offers, and nothing left behind.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import CancelledError
from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.auth.authenticator import DigestAuthenticator
from roomkit_sip.auth.digest_client import DigestClient
from roomkit_sip.auth.providers import DictAuthProvider, ResolverAuthProvider
from roomkit_sip.engine import MANUAL, CallFailed
from roomkit_sip.sip import Response
from tests.engine._peer import (
    HOST,
    PEER_IP,
    RTP_START,
    Harness,
    Recorder,
    assert_released,
    fired,
    offer_sdp,
    sdp_lines,
    sdp_port,
    slow,
)

SECRET = b"k" * 32


class AnswerTests(SynchronousTestCase):
    def test_automatic_answer(self) -> None:
        """100 at once, then 180 and 200 with one To tag, Contact and the SDP answer."""
        h = Harness()
        c = h.caller()
        c.send_invite()
        self.assertEqual(c.statuses(), [100, 180, 200])
        trying, ringing, ok = c.responses()
        self.assertIsNone(trying.to.tag)
        self.assertEqual(ringing.to.tag, ok.to.tag)
        self.assertEqual(ok.headers.get("Contact"), f"<sip:{HOST}:5060>")
        self.assertIn("INVITE", ok.headers.get_all("Allow"))
        self.assertEqual(ok.headers.get_all("Supported"), ["timer"])
        self.assertEqual(ok.content_type, "application/sdp")
        lines = sdp_lines(ok)
        self.assertIn(f"c=IN IP4 {HOST}", lines)
        self.assertIn(f"m=audio {RTP_START} RTP/AVP 0 101", lines)
        self.assertIn("a=sendrecv", lines)
        self.assertEqual(h.handler.kinds(), ["incoming", "answered"])
        c.ack(ok)
        [call] = h.engine.list_sessions()
        self.assertEqual(
            (call.state, call.codec.encoding_name, call.sample_rate), ("active", "PCMU", 8000)
        )
        c.send(c.request("BYE", content_type=None))
        self.assertEqual(h.handler.kinds(), ["incoming", "answered", "ended"])
        assert_released(self, h)

    def test_incoming_call_sees_the_invite(self) -> None:
        h = Harness(Recorder(verdict=MANUAL))
        c = h.caller()
        c.send_invite(headers=[("X-Room-ID", "room-42"), ("X-Tenant", "acme")])
        [incoming] = h.handler.incoming
        self.assertEqual(incoming.call_id, c.call_id)
        self.assertEqual(incoming.caller, f"sip:alice@{PEER_IP}:5062")
        self.assertEqual(incoming.callee, f"sip:bot@{HOST}")
        self.assertEqual(incoming.caller_display_name, "Alice")
        self.assertEqual((incoming.room_id, incoming.session_id), ("room-42", c.call_id))
        self.assertEqual(incoming.x_headers, {"X-Room-ID": "room-42", "X-Tenant": "acme"})
        self.assertEqual(incoming.source_addr, (PEER_IP, 5062))
        self.assertEqual(incoming.sdp_offer, offer_sdp().decode())
        self.assertEqual(incoming.codec.encoding_name, "PCMU")
        self.assertEqual(incoming.request.method, "INVITE")
        incoming.reject(603, "Decline")
        self.assertEqual(c.statuses(), [100, 603])
        c.ack()
        assert_released(self, h)

    def test_local_preference_decides_the_codec(self) -> None:
        h = Harness()
        c = h.caller()
        c.send_invite(offer_sdp(formats="0 8 9 101"))
        self.assertIn("m=audio 20000 RTP/AVP 0 101", sdp_lines(c.final()))
        g722 = Harness(codecs=Harness().config.codecs[::-1])  # G.722 first
        c = g722.caller()
        c.send_invite(offer_sdp(formats="0 8 9 101"))
        self.assertIn("m=audio 20000 RTP/AVP 9 101", sdp_lines(c.final()))


class RefusalTests(SynchronousTestCase):
    def refused(self, h: Harness, **invite: Any) -> Response:
        asked = len(h.handler.incoming)
        c = h.caller()
        c.send_invite(**invite)
        statuses = c.statuses()
        self.assertEqual(statuses[0], 100)
        final = c.final()
        self.assertEqual(len(statuses), 2, statuses)
        self.assertIsNotNone(final.to.tag)
        c.ack(final)
        self.assertEqual(len(h.handler.incoming), asked)
        return final

    def test_unknown_require_420(self) -> None:
        h = Harness()
        c = h.caller()
        c.send_invite(headers=[("Require", "timer, 100rel, foo")])
        final = c.final()
        self.assertEqual(final.status, 420)
        self.assertEqual(final.headers.get_all("Unsupported"), ["100rel", "foo"])
        assert_released(self, h)

    def test_unsupported_scheme_416(self) -> None:
        h = Harness()
        c = h.caller()
        c.send_invite(uri="urn:service:sos")
        self.assertEqual(c.final().status, 416)
        assert_released(self, h)

    def test_body_not_sdp_415(self) -> None:
        final = self.refused(h := Harness(), body=b"hello", content_type="text/plain")
        self.assertEqual((final.status, final.headers.get("Accept")), (415, "application/sdp"))
        assert_released(self, h)

    def test_compressed_body_415(self) -> None:
        h = Harness()
        final = self.refused(h, headers=[("Content-Encoding", "gzip")])
        self.assertEqual((final.status, final.headers.get("Accept-Encoding")), (415, "identity"))

    def test_accept_without_sdp_406(self) -> None:
        h = Harness()
        self.assertEqual(self.refused(h, headers=[("Accept", "text/plain")]).status, 406)
        c = h.caller()
        c.send_invite(headers=[("Accept", "application/*")])
        self.assertEqual(c.final().status, 200)

    def test_malformed_sdp_400(self) -> None:
        h = Harness()
        final = self.refused(h, body=b"v=0\r\nthis is not SDP\r\n")
        self.assertEqual(final.status, 400)
        self.assertEqual(h.services.allocator.allocated, 0)
        assert_released(self, h)

    def test_no_common_codec_488_before_a_port_is_bound(self) -> None:
        h = Harness()
        final = self.refused(h, body=offer_sdp(formats="3 18"))
        self.assertEqual(final.status, 488)
        self.assertEqual(final.headers.get("Warning"), f'305 {HOST} "Incompatible media format"')
        self.assertEqual(h.services.allocator.stats()["in_quarantine"], 0)
        self.assertEqual(h.engine.stats()["rejected"], {488: 1})

    def test_session_interval_too_small_422(self) -> None:
        h = Harness()
        headers = [("Supported", "timer"), ("Session-Expires", "60")]
        final = self.refused(h, headers=headers)
        self.assertEqual((final.status, final.headers.get("Min-SE")), (422, "90"))

    def test_max_sessions_503(self) -> None:
        h = Harness(max_sessions=1, retry_after=7)
        h.caller().connect()
        final = self.refused(h)
        self.assertEqual((final.status, final.headers.get("Retry-After")), (503, "7"))
        self.assertEqual(len(h.handler.incoming), 1)

    def test_ports_exhausted_503(self) -> None:
        h = Harness(rtp_port_end=RTP_START + 4)  # two pairs
        h.caller().connect()
        h.caller().connect()
        final = self.refused(h)
        self.assertEqual((final.status, final.headers.get("Retry-After")), (503, "5"))
        self.assertEqual(h.services.registry.claimed, 2)  # the refused one let go

    def test_live_session_id_486(self) -> None:
        h = Harness()
        h.caller().send_invite(headers=[("X-Session-ID", "s-1")])
        final = self.refused(h, headers=[("X-Session-ID", "s-1")])
        self.assertEqual(final.status, 486)
        c = h.caller()
        c.send_invite(headers=[("X-Session-ID", "s-2")])
        self.assertEqual(c.final().status, 200)


class HookTests(SynchronousTestCase):
    def test_rejection_tuple(self) -> None:
        h = Harness(Recorder(verdict=(486, "Busy Here")))
        c = h.caller()
        c.send_invite()
        self.assertEqual(c.statuses(), [100, 486])
        self.assertEqual(c.final().reason, "Busy Here")
        c.ack()
        self.assertEqual(h.handler.kinds(), ["incoming"])
        assert_released(self, h)

    def test_hook_raises_500_and_other_calls_go_on(self) -> None:
        def verdict(incoming: Any) -> Any:
            if incoming.x_headers:
                raise RuntimeError("application bug")
            return None

        h = Harness(Recorder(verdict=verdict))
        bad, good = h.caller(), h.caller()
        bad.send_invite(headers=[("X-Bug", "1")])
        good.send_invite()
        self.assertEqual((bad.final().status, good.final().status), (500, 200))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_hook_that_rings_then_answers(self) -> None:
        def verdict(incoming: Any) -> None:
            incoming.ring()

        h = Harness(Recorder(verdict=verdict))
        c = h.caller()
        c.send_invite()
        self.assertEqual(c.statuses(), [100, 180, 200])

    def test_rejection_reason_on_one_line(self) -> None:
        h = Harness(Recorder(verdict=(603, "Not\r\nnow")))
        c = h.caller()
        c.send_invite()
        self.assertEqual((c.final().status, c.final().reason), (603, "Not now"))

    def test_unknown_verdict_500(self) -> None:
        h = Harness(Recorder(verdict="yes please"))
        c = h.caller()
        c.send_invite()
        self.assertEqual(c.final().status, 500)

    def test_deferred_answer(self) -> None:
        log: list[Any] = []
        h = Harness(Recorder(verdict=slow(log)))
        c = h.caller()
        c.send_invite()
        self.assertEqual(c.statuses(), [100])
        log[0].callback(None)
        self.assertEqual(c.statuses(), [100, 180, 200])

    def test_cancel_wins_over_a_slow_hook(self) -> None:
        """487, the hook's Deferred cancelled, the ports and the claim freed, no call."""
        log: list[Any] = []
        h = Harness(Recorder(verdict=slow(log)))
        c = h.caller()
        c.send_invite()
        self.assertEqual(h.services.allocator.allocated, 1)
        c.cancel()
        self.assertEqual(c.statuses("CANCEL"), [200])
        self.assertEqual(c.statuses(), [100, 487])
        self.assertEqual(log[1:], [CancelledError])
        self.assertEqual(h.services.allocator.allocated, 0)
        self.assertEqual(h.services.registry.claimed, 0)
        c.ack()
        self.assertEqual(h.handler.kinds(), ["incoming"])
        self.assertEqual(h.engine.stats()["cancelled"], 1)
        assert_released(self, h)

    def test_cancel_during_authentication(self) -> None:
        lookups: list[Any] = []
        provider = ResolverAuthProvider(slow(lookups))
        h = Harness(auth_with=lambda r: DigestAuthenticator(provider, "test", SECRET, r))
        client = DigestClient("alice", "pw")
        c = h.caller()
        c.send_invite()
        challenge = c.final()
        c.ack(challenge)
        client.challenged(challenge.headers.get_all("WWW-Authenticate"))
        [authorization] = client.authorizations("INVITE", f"sip:bot@{HOST}:5060")
        c.send_invite(headers=[("Authorization", authorization)])
        self.assertEqual(len(lookups), 1)
        c.cancel()
        self.assertEqual(c.statuses()[-1], 487)
        self.assertEqual(lookups[1:], [CancelledError])
        assert_released(self, h)

    def test_ring_timeout_480(self) -> None:
        h = Harness(Recorder(verdict=MANUAL), ring_timeout=10.0)
        c = h.caller()
        c.send_invite()
        h.handler.incoming[0].ring()
        h.advance(9.9)
        self.assertEqual(c.statuses(), [100, 180])
        h.advance(0.2)
        self.assertEqual(c.statuses(), [100, 180, 480])
        c.ack()
        assert_released(self, h)


class ManualTests(SynchronousTestCase):
    def test_ring_progress_answer(self) -> None:
        """180, then 183 with the SDP and early media, then 200 with the same SDP."""
        h = Harness(Recorder(verdict=MANUAL))
        c = h.caller()
        c.send_invite()
        [incoming] = h.handler.incoming
        self.assertEqual(c.statuses(), [100])
        incoming.ring()
        early = incoming.progress()
        self.assertEqual(c.statuses(), [100, 180, 183])
        progress = c.responses()[-1]
        self.assertEqual(sdp_port(progress), RTP_START)
        self.assertEqual(early.state, "early")
        self.assertEqual(h.handler.kinds(), ["incoming"])
        early.send_audio(b"\x01\x00" * 1600)  # 200 ms of early media
        early.end_of_response()
        h.advance(0.3)
        rtp = h.rtp_port(RTP_START).take_written()
        self.assertTrue([d for d, addr in rtp if addr == (PEER_IP, 40000)])
        answered = incoming.answer()
        self.assertIs(fired(answered), early)
        ok = c.final()
        self.assertEqual(ok.body, progress.body)
        self.assertEqual((early.state, h.handler.kinds()), ("active", ["incoming", "answered"]))
        c.ack(ok)
        c.send(c.request("BYE", content_type=None))
        assert_released(self, h)

    def test_manual_reject_after_ringing(self) -> None:
        h = Harness(Recorder(verdict=MANUAL))
        c = h.caller()
        c.send_invite()
        incoming = h.handler.incoming[0]
        incoming.ring()
        incoming.reject(480, "Try Later")
        self.assertEqual(c.statuses(), [100, 180, 480])
        self.assertRaises(ValueError, incoming.reject, 200)
        self.failureResultOf(incoming.answer(), CallFailed)
        c.ack()
        assert_released(self, h)

    def test_cancel_during_early_media(self) -> None:
        h = Harness(Recorder(verdict=MANUAL))
        c = h.caller()
        c.send_invite()
        incoming = h.handler.incoming[0]
        cancelled = incoming.when_cancelled()
        early = incoming.progress()
        c.cancel()
        self.assertEqual(c.statuses(), [100, 183, 487])
        self.assertIsNone(fired(cancelled))
        self.assertEqual(
            (early.state, early.metadata["disconnect_reason"]), ("ended", "cancelled")
        )
        self.assertEqual(h.handler.ended, [])  # never answered
        c.ack()
        assert_released(self, h)

    def test_bye_on_the_early_dialog(self) -> None:
        """§15.1.2: 200 to the BYE, 487 to the INVITE."""
        h = Harness(Recorder(verdict=MANUAL))
        c = h.caller()
        c.send_invite()
        h.handler.incoming[0].ring()
        c.to_tag = c.responses()[-1].to.tag
        c.send(c.request("BYE", content_type=None))
        self.assertEqual(c.statuses("BYE"), [200])
        self.assertEqual(c.statuses(), [100, 180, 487])
        assert_released(self, h)

    def test_reinvite_on_the_early_dialog_500(self) -> None:
        h = Harness(Recorder(verdict=MANUAL))
        c = h.caller()
        c.send_invite()
        h.handler.incoming[0].ring()
        c.to_tag = c.responses()[-1].to.tag
        c.send(c.request("INVITE", body=offer_sdp(version=2)))
        [refused] = [r for r in c.responses() if r.cseq.seq == 2]
        self.assertEqual((refused.status, refused.headers.get("Retry-After")), (500, "5"))


class LateOfferTests(SynchronousTestCase):
    def test_offer_in_200_answer_in_ack(self) -> None:
        h = Harness()
        c = h.caller()
        c.send_invite(body=b"")
        ok = c.final()
        lines = sdp_lines(ok)
        self.assertIn("m=audio 20000 RTP/AVP 0 8 9 101", lines)
        self.assertEqual(h.handler.kinds(), ["incoming"])  # answered once the ACK answers
        c.ack(ok, body=offer_sdp(formats="8 101"))
        [call] = h.engine.list_sessions()
        self.assertEqual(call.codec.encoding_name, "PCMA")
        self.assertEqual(h.handler.kinds(), ["incoming", "answered"])
        call.hangup()
        assert_released(self, h)

    def test_ack_without_answer_ends_with_bye(self) -> None:
        h = Harness()
        c = h.caller()
        c.send_invite(body=b"")
        c.ack(c.final())
        [bye] = c.requests("BYE")
        self.assertIn("cause=102", bye.headers.get("Reason"))
        self.assertEqual(h.handler.kinds(), ["incoming"])  # never answered, never ended
        self.assertEqual(h.engine.list_sessions(), [])
        c.answer(bye)
        assert_released(self, h)


class AuthenticationTests(SynchronousTestCase):
    def harness(self) -> Harness:
        provider = DictAuthProvider({"alice": "pw"})
        return Harness(auth_with=lambda r: DigestAuthenticator(provider, "test", SECRET, r))

    def authorized(self, h: Harness, password: str) -> Any:
        c = h.caller()
        c.send_invite()
        challenge = c.final()
        self.assertEqual(challenge.status, 401)
        self.assertEqual(
            [v.split(",")[-2].strip() for v in challenge.headers.get_all("WWW-Authenticate")],
            ["algorithm=SHA-256", "algorithm=MD5"],
        )
        c.ack(challenge)
        client = DigestClient("alice", password)
        client.challenged(challenge.headers.get_all("WWW-Authenticate"))
        [authorization] = client.authorizations("INVITE", f"sip:bot@{HOST}:5060")
        c.send_invite(headers=[("Authorization", authorization)])
        return c

    def test_challenge_then_answer(self) -> None:
        h = self.harness()
        c = self.authorized(h, "pw")
        self.assertEqual(c.final().status, 200)
        self.assertEqual(h.handler.incoming[0].authenticated_user, "alice")
        self.assertEqual(h.engine.stats()["rejected"], {401: 1})

    def test_wrong_password_403_after_the_penalty(self) -> None:
        h = self.harness()
        c = self.authorized(h, "wrong")
        self.assertEqual(c.final().status, 401)
        h.advance(0.5)
        self.assertEqual(c.final().status, 403)
        stats = h.engine.stats()
        self.assertEqual((stats["auth_failures"], stats["rejected"]), (1, {401: 1, 403: 1}))
        self.assertEqual(h.handler.incoming, [])

    def test_garbled_credentials_400(self) -> None:
        h = self.harness()
        c = h.caller()
        c.send_invite(headers=[("Authorization", 'Digest username="alice", realm="test"')])
        self.assertEqual(c.final().status, 400)
        self.assertIn("399", c.final().headers.get("Warning"))

    def test_provider_failure_500(self) -> None:
        broken = ResolverAuthProvider(lambda user: 1 / 0)
        h = Harness(auth_with=lambda r: DigestAuthenticator(broken, "test", SECRET, r))
        client = DigestClient("alice", "pw")
        c = h.caller()
        c.send_invite()
        client.challenged(c.final().headers.get_all("WWW-Authenticate"))
        [authorization] = client.authorizations("INVITE", f"sip:bot@{HOST}:5060")
        c.send_invite(headers=[("Authorization", authorization)])
        self.assertEqual(c.final().status, 500)
        self.flushLoggedErrors(ZeroDivisionError)


class LateOfferEarlyMediaTests(SynchronousTestCase):
    def test_progress_without_an_offer_sends_a_bare_183(self) -> None:
        h = Harness(Recorder(verdict=MANUAL))
        c = h.caller()
        c.send_invite(body=b"")
        incoming = h.handler.incoming[0]
        self.assertIsNone(incoming.codec)
        self.assertIsNone(incoming.sdp_offer)
        self.assertIsNone(incoming.progress())
        progress = c.responses()[-1]
        self.assertEqual((progress.status, progress.body), (183, b""))
        answered = incoming.answer()
        self.assertNoResult(answered)
        c.ack(c.final(), body=offer_sdp())
        self.assertEqual(fired(answered).state, "active")
