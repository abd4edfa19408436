"""
RFC 4028 session timers on answered calls: the interval and refresher we
answer with, the BYE when the peer's refreshes stop, and our own refreshes
(UPDATE or re-INVITE) with every answer they can get.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from tests.engine._peer import Harness, assert_released, offer_sdp, sdp_lines

TIMER = [("Supported", "timer")]
#: No RTP flows in these tests: the media watchdogs would end the calls first.
QUIET = {"rtp_establishment_timeout": 0, "rtp_inactivity_timeout": 0}


def connect(h: Harness, headers: list[tuple[str, str]]) -> tuple[Any, Any, Any]:
    c = h.caller()
    c.send_invite(headers=headers)
    ok = c.final()
    c.ack(ok)
    [call] = h.engine.list_sessions()
    return c, call, ok


class PeerRefreshesTests(SynchronousTestCase):
    def test_interval_and_refresher_of_the_200(self) -> None:
        h = Harness(**QUIET)
        c, call, ok = connect(h, [*TIMER, ("Session-Expires", "300;refresher=uac")])
        self.assertEqual(ok.headers.get("Session-Expires"), "300;refresher=uac")
        self.assertEqual(ok.headers.get_all("Require"), ["timer"])

    def test_we_let_a_capable_peer_refresh(self) -> None:
        h = Harness(**QUIET)
        c, call, ok = connect(h, [*TIMER, ("Session-Expires", "600")])
        self.assertEqual(ok.headers.get("Session-Expires"), "600;refresher=uac")

    def test_bye_when_the_peer_stops_refreshing(self) -> None:
        """§10: BYE at interval - min(32, interval/3): 300 s → after 268 s."""
        h = Harness(**QUIET)
        c, call, ok = connect(h, [*TIMER, ("Session-Expires", "300;refresher=uac")])
        h.advance(267.0, step=1.0)
        self.assertEqual(c.requests("BYE"), [])
        h.advance(1.5, step=0.5)
        [bye] = c.requests("BYE")
        self.assertIn('text="session expired"', bye.headers.get("Reason"))
        self.assertEqual(call.metadata["disconnect_reason"], "session_expired")
        self.assertEqual(h.handler.ended, [call])
        c.answer(bye)
        assert_released(self, h)

    def test_a_refresh_restarts_the_timer(self) -> None:
        h = Harness(**QUIET)
        headers = [*TIMER, ("Session-Expires", "300;refresher=uac")]
        c, call, ok = connect(h, headers)
        h.advance(150.0, step=1.0)
        c.send(c.request("UPDATE", content_type=None, headers=headers))
        self.assertEqual(c.responses("UPDATE")[-1].headers.get("Session-Expires"),
                         "300;refresher=uac")  # fmt: skip
        h.advance(200.0, step=1.0)
        self.assertEqual(c.requests("BYE"), [])  # 350 s in, 200 s after the refresh
        c.send(c.request("INVITE", body=offer_sdp(), headers=headers))
        c.ack(c.final())
        h.advance(200.0, step=1.0)
        self.assertEqual((c.requests("BYE"), call.state), ([], "active"))

    def test_refresh_below_min_se_422(self) -> None:
        h = Harness(min_se=120, **QUIET)
        c, call, ok = connect(h, [*TIMER, ("Session-Expires", "300")])
        c.send(
            c.request("UPDATE", content_type=None, headers=[*TIMER, ("Session-Expires", "100")])
        )
        refused = c.responses("UPDATE")[-1]
        self.assertEqual((refused.status, refused.headers.get("Min-SE")), (422, "120"))
        self.assertEqual(call.state, "active")


class WeRefreshTests(SynchronousTestCase):
    """The peer does not do session timers, so we refresh (§9): every 90 s here."""

    def harness(self) -> Harness:
        return Harness(session_expires=180, min_se=90, **QUIET)

    def test_update_when_the_peer_allows_it(self) -> None:
        h = self.harness()
        c, call, ok = connect(h, [("Allow", "INVITE, ACK, BYE, UPDATE")])
        self.assertEqual(ok.headers.get("Session-Expires"), "180;refresher=uas")
        self.assertEqual(ok.headers.get("Require"), None)
        h.advance(89.0, step=1.0)
        self.assertEqual(c.requests("UPDATE"), [])
        h.advance(1.5, step=0.5)
        [update] = c.requests("UPDATE")
        self.assertEqual(update.headers.get("Session-Expires"), "180;refresher=uac")
        self.assertIn("timer", update.headers.get_all("Supported"))
        self.assertEqual(update.body, b"")
        c.answer(update, 200, headers=[("Session-Expires", "180;refresher=uac")])
        h.advance(90.0, step=1.0)
        self.assertEqual(len(c.requests("UPDATE")), 2)  # the next one
        self.assertEqual(call._timers.refreshes, 1)

    def test_reinvite_otherwise_and_we_ack_it(self) -> None:
        h = self.harness()
        c, call, ok = connect(h, [])
        h.advance(90.5, step=0.5)
        [reinvite] = c.requests("INVITE")
        self.assertEqual(reinvite.body, ok.body)  # the same session, same o= version
        self.assertIn("m=audio 20000 RTP/AVP 0 101", sdp_lines(reinvite))
        answer = offer_sdp(formats="0 101")
        c.answer(reinvite, 200, headers=[("Content-Type", "application/sdp"),
                                          ("Contact", f"<sip:alice@{c.addr[0]}:5062>")],
                 body=answer)  # fmt: skip
        [ack] = c.requests("ACK")
        self.assertEqual((ack.cseq.seq, ack.cseq.method), (reinvite.cseq.seq, "ACK"))
        self.assertEqual(call.state, "active")

    def test_refresh_answered_422_retried_with_the_larger_interval(self) -> None:
        h = self.harness()
        c, call, ok = connect(h, [("Allow", "UPDATE")])
        h.advance(90.5, step=0.5)
        [update] = c.requests("UPDATE")
        c.answer(update, 422, headers=[("Min-SE", "400")])
        retry = c.requests("UPDATE")[-1]
        self.assertEqual(retry.headers.get("Session-Expires"), "400;refresher=uac")
        self.assertEqual(retry.headers.get("Min-SE"), "400")

    def test_refresh_answered_491_retried_soon(self) -> None:
        h = self.harness()
        c, call, ok = connect(h, [("Allow", "UPDATE")])
        h.advance(90.5, step=0.5)
        c.answer(c.requests("UPDATE")[0], 491)
        h.advance(0.9)
        self.assertEqual(len(c.requests("UPDATE")), 1)
        h.advance(0.2)  # random 0.5 → 1 s (RFC 3261 §14.1: 0 to 2 s)
        self.assertEqual(len(c.requests("UPDATE")), 2)

    def test_update_not_allowed_falls_back_to_reinvite(self) -> None:
        h = self.harness()
        c, call, ok = connect(h, [("Allow", "UPDATE")])
        h.advance(90.5, step=0.5)
        c.answer(c.requests("UPDATE")[0], 501)
        self.assertEqual(len(c.requests("INVITE")), 1)

    def test_refresh_answered_481_ends_the_call(self) -> None:
        h = self.harness()
        c, call, ok = connect(h, [("Allow", "UPDATE")])
        h.advance(90.5, step=0.5)
        c.answer(c.requests("UPDATE")[0], 481)
        self.assertEqual(call.metadata["disconnect_reason"], "session_expired")
        c.answer(c.requests("BYE")[0], 481)
        assert_released(self, h)

    def test_unanswered_refresh_ends_the_call(self) -> None:
        h = Harness(session_expires=180, min_se=90, t1=0.1, **QUIET)
        c, call, ok = connect(h, [("Allow", "UPDATE")])
        h.advance(90.5, step=0.5)
        h.advance(64 * 0.1 + 0.5)
        self.assertEqual(call.metadata["disconnect_reason"], "session_expired")
        self.assertEqual(len(h.handler.ended), 1)

    def test_peer_reinvite_during_our_refresh_is_glare_491(self) -> None:
        h = self.harness()
        c, call, ok = connect(h, [])
        h.advance(90.5, step=0.5)
        [ours] = c.requests("INVITE")
        c.send(c.request("INVITE", body=offer_sdp(version=2)))
        self.assertEqual(c.final().status, 491)
        c.ack(c.final())
        c.answer(ours, 200, headers=[("Content-Type", "application/sdp")], body=offer_sdp())
        self.assertEqual(call.state, "active")
