"""
re-INVITE and UPDATE on an answered call: hold and unhold, a new remote
address, a codec change, refreshes that change nothing, offers in the 200,
refusals that leave the session alone, and the decision table itself.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.codecs.registry import resolve_codecs
from roomkit_sip.engine.reinvite import Accepted, judge_session_request
from roomkit_sip.engine.screening import Refusal
from roomkit_sip.sip import Response
from roomkit_sip.sip.offer_answer import LocalMedia
from roomkit_sip.sip.sdp import parse_sdp
from roomkit_sip.sip.sdp_session import OfferAnswerSession
from tests.engine._peer import (
    PEER_IP,
    PEER_RTP,
    RTP_START,
    Harness,
    assert_released,
    offer_sdp,
    sdp_lines,
)
from tests.engine.test_calls import answered
from tests.media._helpers import rtp


def origin_version(response: Response) -> int:
    [origin] = [line for line in sdp_lines(response) if line.startswith("o=")]
    return int(origin.split()[2])


class SessionChangeTests(SynchronousTestCase):
    def reinvite(self, c: Any, body: bytes | None, ack: bool = True, **kw: Any) -> Response:
        c.send(c.request("INVITE", body=b"" if body is None else body, **kw))
        final = c.final()
        if ack:
            c.ack(final)
        return final

    def test_hold_and_unhold(self) -> None:
        """
        sendonly → our answer recvonly, nothing sent, the inactivity watchdog
        paused for a hold far longer than its timeout; sendrecv → resumed,
        and the watchdog runs again from the unhold.
        """
        h = Harness(rtp_inactivity_timeout=2.0)
        c, call = answered(h)
        first = c.final()
        port = h.rtp_port(RTP_START)
        port.deliver(rtp(0, 0, b"\xff" * 160), (PEER_IP, PEER_RTP))
        held = self.reinvite(c, offer_sdp(direction="sendonly", version=2))
        self.assertEqual(held.status, 200)
        self.assertIn("a=recvonly", sdp_lines(held))
        self.assertEqual(origin_version(held), origin_version(first) + 1)
        self.assertFalse(call.send_audio_now(b"\x00\x00" * 160))
        h.advance(30.0)
        self.assertEqual(c.requests("BYE"), [])
        resumed = self.reinvite(c, offer_sdp(version=3))
        self.assertIn("a=sendrecv", sdp_lines(resumed))
        self.assertEqual(origin_version(resumed), origin_version(first) + 2)
        self.assertTrue(call.send_audio_now(b"\x00\x00" * 160))
        h.advance(1.9)
        self.assertEqual(c.requests("BYE"), [])
        h.advance(0.2)
        [bye] = c.requests("BYE")
        self.assertEqual(call.metadata["disconnect_reason"], "media_lost")
        c.answer(bye)
        assert_released(self, h)

    def test_inactive_hold(self) -> None:
        h = Harness()
        c, call = answered(h)
        held = self.reinvite(c, offer_sdp(direction="inactive", version=2))
        self.assertIn("a=inactive", sdp_lines(held))
        self.assertFalse(call.send_audio_now(b"\x00\x00" * 160))

    def test_new_remote_address(self) -> None:
        h = Harness()
        c, call = answered(h)
        port = h.rtp_port(RTP_START)
        self.reinvite(c, offer_sdp(port=41000, ip="192.0.2.77", version=2))
        port.take_written()
        call.send_audio_now(b"\x00\x00" * 160)
        [(_, addr)] = port.take_written()
        self.assertEqual(addr, ("192.0.2.77", 41000))

    def test_codec_change(self) -> None:
        h = Harness()
        c, call = answered(h)
        changed = self.reinvite(c, offer_sdp(formats="8 101", version=2))
        self.assertIn("m=audio 20000 RTP/AVP 8 101", sdp_lines(changed))
        self.assertEqual((call.codec.encoding_name, call.metadata["codec"]), ("PCMA", "PCMA"))
        port = h.rtp_port(RTP_START)
        port.take_written()
        call.send_audio_now(b"\x00\x00" * 160)
        [(data, _)] = port.take_written()
        self.assertEqual(data[1] & 0x7F, 8)

    def test_codec_change_to_g722_updates_the_rates(self) -> None:
        h = Harness()
        c, call = answered(h)
        self.reinvite(c, offer_sdp(formats="9 101", version=2))
        self.assertEqual((call.sample_rate, call.metadata["input_sample_rate"]), (16000, 16000))

    def test_refresh_gets_the_same_answer(self) -> None:
        """RFC 3264 §8: nothing changed, so the same description and version."""
        h = Harness()
        c, call = answered(h)
        again = self.reinvite(c, offer_sdp())
        self.assertEqual(again.body, c.responses()[2].body)

    def test_unacceptable_offer_488_keeps_the_session(self) -> None:
        h = Harness()
        c, call = answered(h)
        refused = self.reinvite(c, offer_sdp(formats="3", version=2))
        self.assertEqual(refused.status, 488)
        self.assertEqual(call.codec.encoding_name, "PCMU")
        after = self.reinvite(c, offer_sdp(version=3))
        self.assertEqual(origin_version(after), origin_version(c.responses()[2]))

    def test_malformed_offer_400(self) -> None:
        h = Harness()
        c, call = answered(h)
        self.assertEqual(self.reinvite(c, b"v=9\r\n").status, 400)
        self.assertEqual(call.state, "active")

    def test_reinvite_without_sdp_offers_in_the_200(self) -> None:
        h = Harness()
        c, call = answered(h)
        ok = self.reinvite(c, None, ack=False)
        self.assertIn("m=audio 20000 RTP/AVP 0 101", sdp_lines(ok))
        c.ack(ok, body=offer_sdp(formats="0 101", direction="sendonly", version=2))
        self.assertFalse(call.send_audio_now(b"\x00\x00" * 160))  # held by the answer

    def test_reinvite_without_sdp_and_no_answer_in_the_ack(self) -> None:
        h = Harness()
        c, call = answered(h)
        ok = self.reinvite(c, None, ack=False)
        c.ack(ok)
        self.assertEqual(call.state, "active")  # the previous session stays
        self.assertTrue(call.send_audio_now(b"\x00\x00" * 160))

    def test_reinvite_never_acked_ends_the_call(self) -> None:
        h = Harness(t1=0.1)
        c, call = answered(h)
        self.reinvite(c, offer_sdp(version=2), ack=False)
        h.advance(6.5)
        [bye] = c.requests("BYE")
        self.assertEqual(call.metadata["disconnect_reason"], "ack_timeout")
        c.answer(bye)
        assert_released(self, h)

    def test_update_with_and_without_sdp(self) -> None:
        h = Harness()
        c, call = answered(h)
        c.send(c.request("UPDATE", body=offer_sdp(direction="sendonly", version=2)))
        [ok] = c.responses("UPDATE")
        self.assertIn("a=recvonly", sdp_lines(ok))
        c.send(c.request("UPDATE", content_type=None))
        ok = c.responses("UPDATE")[-1]
        self.assertEqual((ok.status, ok.body), (200, b""))

    def test_reinvite_refreshes_the_target(self) -> None:
        h = Harness()
        c, call = answered(h)
        invite = c.request("INVITE", body=offer_sdp())
        invite.headers.set("Contact", f"<sip:alice@{PEER_IP}:6000>")
        c.send(invite)
        c.ack(c.final())
        call.hangup()
        [bye] = h.inbox((PEER_IP, 6000))
        self.assertEqual((bye.method, bye.uri), ("BYE", f"sip:alice@{PEER_IP}:6000"))


class JudgeTests(SynchronousTestCase):
    """The decision table of L{judge_session_request}, rule by rule."""

    def setUp(self) -> None:
        h = Harness()
        self.c = h.caller()
        codecs = resolve_codecs("pcmu")
        self.session = OfferAnswerSession(codecs, LocalMedia("198.51.100.1", 20000), sess_id=7)
        self.session.answer(parse_sdp(offer_sdp()))

    def judge(self, request: Any, **state: Any) -> Refusal | Accepted:
        settings = {
            "early": False,
            "invite_in_progress": False,
            "offer_outstanding": False,
            "min_se": 90,
            "session_expires": 1800,
            "retry_after": 3,
        }
        settings.update(state)
        return judge_session_request(request, self.session, **settings)

    def test_rules(self) -> None:
        c = self.c
        c.to_tag = "t"
        invite = c.request("INVITE", body=offer_sdp())
        update = c.request("UPDATE", body=offer_sdp())
        bare_update = c.request("UPDATE", content_type=None)
        early = self.judge(invite, early=True)
        self.assertEqual(early, Refusal(500, "Offer Pending", (("Retry-After", "3"),)))
        self.assertEqual(self.judge(invite, invite_in_progress=True), Refusal(491))
        self.assertEqual(self.judge(update, offer_outstanding=True), Refusal(491))
        self.assertIsInstance(self.judge(bare_update, offer_outstanding=True), Accepted)
        self.assertIsInstance(self.judge(update, invite_in_progress=True), Accepted)
        timer = [("Session-Expires", "30"), ("Supported", "timer")]
        small = c.request("INVITE", body=offer_sdp(), headers=timer)
        self.assertEqual(self.judge(small), Refusal(422, headers=(("Min-SE", "90"),)))
        bad = c.request("INVITE", body=offer_sdp(), headers=[("Session-Expires", "soon")])
        self.assertEqual(self.judge(bad).status, 400)  # type: ignore[union-attr]
        accepted = self.judge(invite)
        assert isinstance(accepted, Accepted)
        self.assertIsNotNone(accepted.negotiation)
        self.assertFalse(accepted.answer_in_ack)
        offered = self.judge(c.request("INVITE", content_type=None))
        assert isinstance(offered, Accepted)
        self.assertTrue(offered.answer_in_ack)
        self.assertIsNone(offered.negotiation)
