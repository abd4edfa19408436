"""
Calls the engine places (C{SIPEngine.dial}): the INVITE, the answer and
the call it becomes, digest retries, refusals.  L{Callee} is the fake UAS
at the other end; C{test_outgoing_cancel} covers timeouts, cancelling,
forks and stopping.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.auth.digest_client import DigestClient
from roomkit_sip.engine import CallFailed, CallRejected, DialTimeout
from roomkit_sip.sip import Headers, Request, Response, make_response
from roomkit_sip.sip.digest import compute_ha1, compute_response, parse_credentials
from tests.engine._peer import (
    HOST,
    PEER,
    PEER_IP,
    PEER_RTP,
    RTP_START,
    Harness,
    assert_released,
    fired,
    offer_sdp,
    sdp_lines,
)
from tests.media._helpers import rtp, ulaw_tone_frames

TO = f"sip:bob@{PEER_IP}"
FROM = f"sip:bot@{HOST}"
CHALLENGE = 'Digest realm="trunk", nonce="n0nce1", algorithm=MD5, qop="auth"'


class Callee:
    """The UAS at L{PEER}: reads what the engine sent there, answers it."""

    def __init__(self, h: Harness, addr: tuple[str, int] = PEER) -> None:
        self.h = h
        self.addr = addr
        self.cseq = 100

    def requests(self, method: str | None = None) -> list[Request]:
        """Requests the engine sent us (retransmissions included)."""
        return [
            m for m in self.h.inbox(self.addr)
            if isinstance(m, Request) and (method is None or m.method == method)
        ]  # fmt: skip

    def distinct(self, method: str) -> list[Request]:
        """Requests of C{method}, one per transaction (retransmissions left out)."""
        seen: dict[tuple[str | None, int], Request] = {}
        for m in self.requests(method):
            seen.setdefault((m.top_via.branch, m.cseq.seq), m)
        return list(seen.values())

    def invite(self) -> Request:
        return self.distinct("INVITE")[-1]

    def send(self, message: Request | Response) -> None:
        self.h.sip.deliver(bytes(message), self.addr)
        self.h.reactor.advance(0)  # what the engine does on its next turn

    def respond(
        self,
        request: Request,
        status: int,
        *,
        tag: str = "callee-1",
        body: bytes = b"",
        headers: list[tuple[str, str]] | None = None,
        reason: str | None = None,
    ) -> Response:
        fields = list(headers or [])
        if 100 < status < 300 and not any(name == "Contact" for name, _ in fields):
            fields.append(("Contact", f"<sip:bob@{self.addr[0]}:{self.addr[1]}>"))
        if body:
            fields.append(("Content-Type", "application/sdp"))
        response = make_response(
            request, status, reason, to_tag=None if status == 100 else tag,
            headers=fields, body=body,
        )  # fmt: skip
        self.send(response)
        return response

    def answer(self, request: Request | None = None, **kw: Any) -> Response:
        """180, then 200 with an SDP answer (PCMU and telephone-event)."""
        request = request or self.invite()
        self.respond(request, 180, tag=kw.get("tag", "callee-1"))
        kw.setdefault("body", offer_sdp())
        return self.respond(request, 200, **kw)

    def in_dialog(self, method: str, ok: Response, body: bytes = b"", **extra: str) -> Request:
        """A request of ours (the callee's) in the dialog C{ok} created."""
        invite = self.invite()
        self.cseq += 1
        headers = Headers()
        host, port = self.addr
        headers.add("Via", f"SIP/2.0/UDP {host}:{port};branch=z9hG4bK-c{self.cseq}")
        headers.add("Max-Forwards", "70")
        headers.add("From", ok.headers.get("To"))
        headers.add("To", invite.headers.get("From"))
        headers.add("Call-ID", invite.call_id)
        headers.add("CSeq", f"{self.cseq} {method}")
        headers.add("Contact", f"<sip:bob@{self.addr[0]}:{self.addr[1]}>")
        for name, value in extra.items():
            headers.add(name.replace("_", "-"), value)
        if body:
            headers.add("Content-Type", "application/sdp")
        request = Request(method, str(invite.contacts[0].uri), headers, body)
        self.send(request)
        return request

    def responses_to(self, method: str) -> list[Response]:
        """What the engine answered to our requests of C{method}."""
        return [
            m for m in self.h.inbox(self.addr)
            if isinstance(m, Response) and m.cseq.method == method
        ]  # fmt: skip


def released(test: SynchronousTestCase, h: Harness) -> None:
    """L{assert_released}, once the last ports freed are past their quarantine."""
    h.settle()
    h.advance(h.config.port_quarantine)
    assert_released(test, h)


def dial(h: Harness, **kw: Any) -> Deferred[Any]:
    return h.engine.dial(TO, FROM, PEER, **kw)


def connected(h: Harness, **kw: Any) -> tuple[Callee, Any, Response]:
    """A dialled call the callee answered."""
    callee = Callee(h)
    d = dial(h, **kw)
    ok = callee.answer()
    return callee, fired(d), ok


class InviteTests(SynchronousTestCase):
    def test_invite_headers_and_offer(self) -> None:
        """§8.1.1: what the first INVITE carries, and where it goes."""
        h = Harness()
        d = dial(h, extra_headers={"X-Campaign": "c1", "Subject": "hi"}, codecs=["pcmu"])
        callee = Callee(h)
        [invite] = callee.requests("INVITE")
        headers = invite.headers
        self.assertEqual(invite.uri, TO)
        self.assertEqual(invite.to.uri, invite.request_uri)
        self.assertIsNone(invite.to.tag)
        self.assertTrue(invite.from_.tag)
        self.assertEqual(str(invite.from_.uri), FROM)
        self.assertEqual((invite.cseq.seq, invite.cseq.method), (1, "INVITE"))
        self.assertEqual(invite.max_forwards, 70)
        self.assertEqual(str(invite.contacts[0].uri), f"sip:{HOST}:5060")
        self.assertIn("INVITE", headers.get_all("Allow"))
        self.assertIn("timer", headers.get_all("Supported"))
        self.assertEqual(headers.get("Session-Expires"), "1800")
        self.assertTrue(headers.get("User-Agent").startswith("roomkit-sip/"))
        self.assertEqual((headers.get("X-Campaign"), headers.get("Subject")), ("c1", "hi"))
        self.assertEqual(invite.content_type, "application/sdp")
        self.assertTrue(invite.top_via.branch.startswith("z9hG4bK"))
        lines = sdp_lines(invite)
        self.assertIn(f"m=audio {RTP_START} RTP/AVP 0 101", lines)
        self.assertIn(f"c=IN IP4 {HOST}", lines)
        self.assertNoResult(d)
        self.assertEqual(h.engine.stats()["calls_pending"], 1)

    def test_default_codecs_are_the_engines(self) -> None:
        h = Harness()
        dial(h)
        [invite] = Callee(h).requests("INVITE")
        self.assertIn(f"m=audio {RTP_START} RTP/AVP 0 8 9 101", sdp_lines(invite))

    def test_bad_arguments(self) -> None:
        h = Harness()
        with self.assertRaises(ValueError):
            h.engine.dial("bob", FROM, PEER)
        with self.assertRaises(ValueError):
            h.engine.dial(TO, FROM, PEER, transport="tcp")  # not enabled here
        with self.assertRaises(ValueError):
            h.engine.dial(TO, FROM, PEER, extra_headers={"Call-ID": "mine"})
        with self.assertRaises(ValueError):
            h.engine.dial(TO, FROM, PEER, timeout=0)
        with self.assertRaises(ValueError):
            h.engine.dial(TO, FROM, PEER, codecs=["speex"])
        with self.assertRaises(TypeError):
            h.engine.dial(TO, FROM, PEER, credentials="alice:pw")
        self.assertEqual(Callee(h).requests(), [])

    def test_refused_locally(self) -> None:
        """Not started, session id taken, no room left: CallFailed, nothing sent."""
        h = Harness(max_sessions=1)
        first = dial(h, session_id="s1")
        self.failureResultOf(dial(h, session_id="s1"), CallFailed)
        failure = self.failureResultOf(dial(h), CallFailed)
        self.assertEqual(failure.value.status, 503)
        self.assertEqual(len(Callee(h).distinct("INVITE")), 1)
        first.cancel()
        self.failureResultOf(first)
        h.engine.stop()
        self.failureResultOf(dial(h), CallFailed)


class AnsweredTests(SynchronousTestCase):
    def test_answered_call(self) -> None:
        """200 with SDP: ACK, media, an outbound Call with roomkit's identity."""
        h = Harness()
        h.advance(3.0)
        callee, call, ok = connected(h, codecs=["pcmu"])
        invite = callee.invite()
        [ack] = callee.requests("ACK")
        self.assertEqual(ack.uri, f"sip:bob@{PEER_IP}:{PEER[1]}")  # the remote target
        self.assertEqual((ack.cseq.seq, ack.cseq.method), (1, "ACK"))
        self.assertEqual(ack.to.tag, "callee-1")
        self.assertEqual(ack.call_id, invite.call_id)
        self.assertEqual(call.direction, "outbound")
        self.assertEqual(call.state, "active")
        self.assertEqual((call.call_id, call.room_id, call.session_id),
                         (invite.call_id,) * 3)  # fmt: skip
        self.assertEqual(call.participant_id, TO)
        metadata = call.metadata
        self.assertEqual(metadata["direction"], "outbound")
        self.assertEqual(metadata["sip_answered_at"], 3.0)
        self.assertEqual((metadata["caller"], metadata["callee"]), (FROM, TO))
        self.assertEqual((metadata["codec"], metadata["input_sample_rate"]), ("PCMU", 8000))
        self.assertEqual(h.handler.kinds(), ["answered"])
        self.assertEqual(h.engine.list_sessions(), [call])
        self.assertIs(h.engine.get_session(call.session_id), call)
        stats = h.engine.stats()
        self.assertEqual((stats["calls_active"], stats["calls_total"], stats["calls_pending"]),
                         (1, 1, 0))  # fmt: skip
        # Media both ways.
        port = h.rtp_port(RTP_START)
        for n, payload in enumerate(ulaw_tone_frames(5)):
            port.deliver(rtp(n, n * 160, payload), (PEER_IP, PEER_RTP))
            h.advance(0.02)
        h.advance(0.1)
        self.assertGreaterEqual(len(h.handler.audio), 4)
        port.take_written()
        call.send_audio(b"\x10\x00" * 800)
        call.end_of_response()
        h.advance(0.3)
        sent = [d for d, addr in port.take_written() if addr == (PEER_IP, PEER_RTP)]
        self.assertEqual(len(sent), 5)
        self.assertEqual(sent[0][1] & 0x7F, 0)

    def test_room_and_session_ids(self) -> None:
        h = Harness()
        _, call, _ = connected(h, room_id="room-7")
        self.assertEqual((call.room_id, call.session_id), ("room-7", "room-7"))
        _, other, _ = connected(h, room_id="room-7", session_id="s-2")
        self.assertEqual((other.room_id, other.session_id), ("room-7", "s-2"))
        self.assertEqual(h.engine.list_sessions("room-7"), [call, other])

    def test_hangup_sends_bye_with_reason(self) -> None:
        h = Harness()
        callee, call, ok = connected(h)
        done = call.hangup(16, "Normal call clearing")
        [bye] = callee.requests("BYE")
        self.assertEqual(bye.headers.get("Reason"), 'Q.850;cause=16;text="Normal call clearing"')
        self.assertEqual((bye.cseq.seq, bye.to.tag), (2, "callee-1"))
        self.assertEqual(bye.from_.tag, callee.invite().from_.tag)
        callee.respond(bye, 200)
        fired(done)
        self.assertEqual(h.handler.kinds(), ["answered", "ended"])
        self.assertEqual(call.metadata["disconnect_reason"], "local_hangup")
        released(self, h)

    def test_bye_from_the_callee(self) -> None:
        h = Harness()
        callee, call, ok = connected(h)
        bye = callee.in_dialog("BYE", ok, Reason='Q.850;cause=16;text="bye"')
        [answer] = callee.responses_to("BYE")
        self.assertEqual((answer.status, answer.cseq.seq), (200, bye.cseq.seq))
        self.assertEqual(h.handler.ended, [call])
        self.assertEqual(call.metadata["bye_reason"], {"cause": 16, "text": "bye"})
        self.assertEqual(call.metadata["disconnect_reason"], "remote_bye")
        released(self, h)

    def test_record_route_and_contact_shape_in_dialog_requests(self) -> None:
        """§12.1.2: route set = Record-Route reversed, remote target = Contact."""
        h = Harness()
        callee = Callee(h)
        d = dial(h)
        routes = [("Record-Route", f"<sip:{PEER_IP}:5070;lr>"),
                  ("Record-Route", f"<sip:{PEER_IP}:5062;lr>")]  # fmt: skip
        callee.respond(callee.invite(), 200, body=offer_sdp(), headers=routes)
        call = fired(d)
        [ack] = callee.requests("ACK")
        self.assertEqual(ack.headers.get_all("Route"),
                         [f"<sip:{PEER_IP}:5062;lr>", f"<sip:{PEER_IP}:5070;lr>"])  # fmt: skip
        self.assertEqual(ack.uri, f"sip:bob@{PEER_IP}:{PEER[1]}")
        call.hangup()
        [bye] = callee.requests("BYE")  # the first route: back to PEER
        self.assertEqual(bye.headers.get_all("Route"), ack.headers.get_all("Route"))

    def test_reinvite_from_callee_holds(self) -> None:
        h = Harness()
        callee, call, ok = connected(h)
        reinvite = callee.in_dialog("INVITE", ok, body=offer_sdp(direction="sendonly", version=2))
        [answer] = [r for r in callee.responses_to("INVITE") if r.cseq.seq == reinvite.cseq.seq]
        self.assertEqual(answer.status, 200)
        self.assertIn("a=recvonly", sdp_lines(answer))
        self.assertEqual(call.state, "active")

    def test_dtmf_to_the_callee(self) -> None:
        h = Harness()
        _, call, _ = connected(h)
        port = h.rtp_port(RTP_START)
        port.take_written()
        sent = call.send_dtmf("5", 100)
        h.advance(0.3)
        self.assertIs(fired(sent), True)
        packets = [d for d, addr in port.take_written() if addr == (PEER_IP, PEER_RTP)]
        self.assertTrue(packets and all(d[1] & 0x7F == 101 for d in packets))

    def test_session_timer_from_the_answer(self) -> None:
        """RFC 4028: the 2xx names us refresher at 100 s: an UPDATE at 50 s."""
        h = Harness()
        callee = Callee(h)
        d = dial(h)
        timer = [("Session-Expires", "100;refresher=uac"), ("Require", "timer"),
                 ("Allow", "INVITE, ACK, BYE, CANCEL, UPDATE")]  # fmt: skip
        callee.respond(callee.invite(), 200, body=offer_sdp(), headers=timer)
        fired(d)
        h.advance(49.5)
        self.assertEqual(callee.requests("UPDATE"), [])
        h.advance(1.0)
        [update] = callee.requests("UPDATE")
        self.assertEqual(update.headers.get("Session-Expires"), "100;refresher=uac")

    def test_early_sdp_used_when_the_2xx_has_none(self) -> None:
        """183 with the answer, 200 without (seen in the field): the 183's is used."""
        h = Harness()
        callee = Callee(h)
        d = dial(h)
        invite = callee.invite()
        callee.respond(invite, 183, body=offer_sdp())
        self.assertNoResult(d)
        callee.respond(invite, 200)
        self.assertEqual(fired(d).state, "active")


class UnusableAnswerTests(SynchronousTestCase):
    def check_ack_then_bye(self, body: bytes) -> None:
        h = Harness()
        callee = Callee(h)
        d = dial(h)
        callee.respond(callee.invite(), 200, body=body)
        failure = self.failureResultOf(d, CallFailed)
        self.assertNotIsInstance(failure.value, CallRejected)
        self.assertIn("no usable SDP answer", failure.value.reason)
        self.assertEqual([m.method for m in callee.requests()], ["INVITE", "ACK", "BYE"])
        [bye] = callee.requests("BYE")
        self.assertEqual(bye.headers.get("Reason"), 'SIP;cause=488;text="Not Acceptable Here"')
        self.assertEqual(h.handler.kinds(), [])
        callee.respond(bye, 200)
        released(self, h)

    def test_2xx_without_sdp(self) -> None:
        self.check_ack_then_bye(b"")

    def test_2xx_answering_with_a_codec_not_offered(self) -> None:
        self.check_ack_then_bye(offer_sdp(formats="3"))

    def test_2xx_with_malformed_sdp(self) -> None:
        self.check_ack_then_bye(b"v=0\r\nthis is not SDP\r\n")


class RefusalTests(SynchronousTestCase):
    def test_busy(self) -> None:
        """486: CallRejected(486, "Busy Here"), the INVITE ACKed (§17.1.1.3)."""
        h = Harness()
        callee = Callee(h)
        d = dial(h)
        invite = callee.invite()
        callee.respond(invite, 100)
        callee.respond(invite, 486)
        error = self.failureResultOf(d, CallRejected).value
        self.assertEqual((error.status, error.reason), (486, "Busy Here"))
        self.assertIsInstance(error, RuntimeError)
        self.assertNotIsInstance(error, TimeoutError)
        [ack] = callee.requests("ACK")
        self.assertEqual(ack.top_via.branch, invite.top_via.branch)
        self.assertEqual(h.handler.kinds(), [])
        released(self, h)

    def test_redirect_not_followed(self) -> None:
        h = Harness()
        callee = Callee(h)
        d = dial(h)
        contact = [("Contact", "<sip:bob@203.0.113.9>")]
        callee.respond(callee.invite(), 302, headers=contact)
        error = self.failureResultOf(d, CallRejected).value
        self.assertEqual(error.status, 302)
        self.assertEqual(str(error.response.contacts[0].uri), "sip:bob@203.0.113.9")
        self.assertEqual(len(callee.distinct("INVITE")), 1)
        released(self, h)

    def test_no_response_at_all(self) -> None:
        """Timer B (64*T1) with no timeout of ours: DialTimeout, status 408."""
        h = Harness()
        d = dial(h, timeout=None)
        h.advance(31.0)
        self.assertNoResult(d)
        h.advance(1.5)
        error = self.failureResultOf(d, DialTimeout).value
        self.assertEqual(error.status, 408)
        self.assertIsInstance(error, TimeoutError)
        self.assertEqual(Callee(h).requests("CANCEL"), [])
        released(self, h)

    def test_transport_failure(self) -> None:
        h = Harness()
        d = dial(h)
        h.engine._transport_failed(PEER, "UDP")
        self.assertEqual(self.failureResultOf(d, CallFailed).value.status, 503)
        released(self, h)


def check_digest(test: SynchronousTestCase, value: str, request: Request, nc: str) -> None:
    """C{value} is a right MD5 answer to L{CHALLENGE} for alice/s3cret."""
    credentials = parse_credentials(value)
    assert credentials is not None
    test.assertEqual((credentials.username, credentials.realm), ("alice", "trunk"))
    test.assertEqual((credentials.nonce, credentials.nc, credentials.uri),
                     ("n0nce1", nc, request.uri))  # fmt: skip
    expected = compute_response(
        "MD5", compute_ha1("MD5", "alice", "trunk", "s3cret"), method=request.method,
        uri=request.uri, nonce="n0nce1", qop="auth", nc=nc, cnonce=credentials.cnonce,
    )  # fmt: skip
    test.assertEqual(credentials.response, expected)


class DigestTests(SynchronousTestCase):
    def test_401_then_answered(self) -> None:
        """§22.2: one retry with Authorization, new CSeq, same Call-ID and tag."""
        h = Harness()
        callee = Callee(h)
        d = dial(h, credentials=("alice", "s3cret"))
        first = callee.invite()
        callee.respond(first, 401, headers=[("WWW-Authenticate", CHALLENGE)])
        second = callee.invite()
        self.assertEqual(second.cseq.seq, 2)
        self.assertEqual((second.call_id, second.from_.tag), (first.call_id, first.from_.tag))
        self.assertNotEqual(second.top_via.branch, first.top_via.branch)
        self.assertEqual(second.body, first.body)
        check_digest(self, second.headers.get("Authorization"), second, "00000001")
        callee.answer(second)
        call = fired(d)
        acks = callee.distinct("ACK")
        self.assertEqual([a.cseq.seq for a in acks], [1, 2])  # the 401's, the 200's
        self.assertIsNotNone(acks[1].headers.get("Authorization"))  # §22.1: the ACK's too
        self.assertEqual(call.state, "active")

    def test_407_then_401(self) -> None:
        """A proxy and then the callee challenge: both answered, both kept."""
        h = Harness()
        callee = Callee(h)
        d = dial(h, credentials=lambda: DigestClient("alice", "s3cret"))
        callee.respond(callee.invite(), 407, headers=[("Proxy-Authenticate", CHALLENGE)])
        second = callee.invite()
        self.assertIsNone(second.headers.get("Authorization"))
        callee.respond(second, 401, headers=[("WWW-Authenticate", CHALLENGE)])
        third = callee.invite()
        self.assertEqual(third.cseq.seq, 3)
        check_digest(self, third.headers.get("Proxy-Authorization"), third, "00000002")
        check_digest(self, third.headers.get("Authorization"), third, "00000001")
        callee.answer(third)
        self.assertEqual(fired(d).state, "active")

    def test_credentials_refused(self) -> None:
        """A fresh challenge to the credentials (no stale): CallRejected(401)."""
        h = Harness()
        callee = Callee(h)
        d = dial(h, credentials=("alice", "wrong"))
        callee.respond(callee.invite(), 401, headers=[("WWW-Authenticate", CHALLENGE)])
        callee.respond(callee.invite(), 401, headers=[("WWW-Authenticate", CHALLENGE)])
        self.assertEqual(self.failureResultOf(d, CallRejected).value.status, 401)
        self.assertEqual(len(callee.distinct("INVITE")), 2)
        released(self, h)

    def test_stale_nonce_retried(self) -> None:
        h = Harness()
        callee = Callee(h)
        d = dial(h, credentials=("alice", "s3cret"))
        callee.respond(callee.invite(), 401, headers=[("WWW-Authenticate", CHALLENGE)])
        stale = CHALLENGE.replace("n0nce1", "n0nce2") + ", stale=true"
        callee.respond(callee.invite(), 401, headers=[("WWW-Authenticate", stale)])
        third = callee.invite()
        self.assertIn('nonce="n0nce2"', third.headers.get("Authorization"))
        callee.answer(third)
        self.assertEqual(fired(d).state, "active")

    def test_challenge_without_credentials(self) -> None:
        h = Harness()
        callee = Callee(h)
        d = dial(h)
        callee.respond(callee.invite(), 407, headers=[("Proxy-Authenticate", CHALLENGE)])
        error = self.failureResultOf(d, CallRejected).value
        self.assertEqual((error.status, error.reason), (407, "Proxy Authentication Required"))
        released(self, h)

    def test_unanswerable_challenge(self) -> None:
        h = Harness()
        callee = Callee(h)
        d = dial(h, credentials=("alice", "s3cret"))
        odd = [("WWW-Authenticate", 'Digest realm="x", nonce="n", algorithm=AKAv1-MD5')]
        callee.respond(callee.invite(), 401, headers=odd)
        self.assertEqual(self.failureResultOf(d, CallRejected).value.status, 401)

    def test_forbidden_after_credentials(self) -> None:
        h = Harness()
        callee = Callee(h)
        d = dial(h, credentials=("alice", "s3cret"))
        callee.respond(callee.invite(), 401, headers=[("WWW-Authenticate", CHALLENGE)])
        callee.respond(callee.invite(), 403)
        self.assertEqual(self.failureResultOf(d, CallRejected).value.status, 403)
        released(self, h)

    def test_too_many_challenges(self) -> None:
        h = Harness()
        callee = Callee(h)
        d = dial(h, credentials=("alice", "s3cret"))
        for n in range(5):
            if d.called:
                break
            stale = CHALLENGE.replace("n0nce1", f"n{n}") + ", stale=true"
            callee.respond(callee.invite(), 401, headers=[("WWW-Authenticate", stale)])
        self.assertEqual(self.failureResultOf(d, CallRejected).value.status, 401)
        self.assertEqual(len(callee.distinct("INVITE")), 4)  # the first and three retries

    def test_422_retried_with_min_se(self) -> None:
        """RFC 4028 §7.4: the INVITE again with the interval the 422 asks for."""
        h = Harness()
        callee = Callee(h)
        d = dial(h)
        callee.respond(callee.invite(), 422, headers=[("Min-SE", "3600")])
        second = callee.invite()
        self.assertEqual(second.cseq.seq, 2)
        self.assertEqual(second.headers.get("Session-Expires"), "3600")
        self.assertEqual(second.headers.get("Min-SE"), "3600")
        callee.respond(second, 422, headers=[("Min-SE", "3600")])  # no progress: give up
        self.assertEqual(self.failureResultOf(d, CallRejected).value.status, 422)
