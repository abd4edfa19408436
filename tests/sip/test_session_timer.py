"""
L{roomkit_sip.sip.session_timer}: RFC 4028 header logic: parsing (§4, §5),
the UAS decision (§9: 422, interval, refresher table), the UAC side (§7.1,
§7.2, §7.4) and the refresh / expiry deadlines (§10).
"""

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.sip import SIPParseError
from roomkit_sip.sip.session_timer import (
    Negotiated,
    SessionExpires,
    SessionTimer,
    TooSmall,
    min_se_of,
    parse_min_se,
    parse_session_expires,
    session_expires_of,
    supports_timer,
    uac_negotiated,
    uac_request_headers,
    uac_retry_after_422,
    uas_negotiate,
)

from ._txn_support import request, response


def invite(*lines: str) -> object:
    return request("INVITE", extra="".join(line + "\r\n" for line in lines))


class ParseTests(SynchronousTestCase):
    def test_rfc4028_examples(self) -> None:
        """§4: C{Session-Expires: 4000;refresher=uac} and its compact form x."""
        self.assertEqual(parse_session_expires("4000;refresher=uac"), SessionExpires(4000, "uac"))
        msg = invite("x: 4000;refresher=uac")
        self.assertEqual(session_expires_of(msg), SessionExpires(4000, "uac"))
        self.assertEqual(parse_min_se("3600"), 3600)  # §5 example
        self.assertEqual(min_se_of(invite("Min-SE: 3600")), 3600)

    def test_params(self) -> None:
        self.assertEqual(
            parse_session_expires("1800 ; refresher=UAS ;x=1"), SessionExpires(1800, "uas")
        )
        self.assertEqual(parse_session_expires("90"), SessionExpires(90))
        self.assertEqual(parse_min_se("90;foo"), 90)
        self.assertEqual(str(SessionExpires(1800, "uac")), "1800;refresher=uac")
        self.assertEqual(str(SessionExpires(1800)), "1800")

    def test_malformed(self) -> None:
        for value in ("", "abc", "1800;refresher=both", "1800;refresher", "-5"):
            self.assertRaises(SIPParseError, parse_session_expires, value)
        self.assertRaises(SIPParseError, parse_min_se, "soon")

    def test_absent(self) -> None:
        self.assertIsNone(session_expires_of(invite()))
        self.assertIsNone(min_se_of(invite()))

    def test_supports_timer(self) -> None:
        self.assertTrue(supports_timer(invite("Supported: 100rel, Timer")))
        self.assertTrue(supports_timer(invite("Require: timer")))
        self.assertFalse(supports_timer(invite("Supported: 100rel")))


class UasTests(SynchronousTestCase):
    def test_422_below_local_minimum(self) -> None:
        """§9: Session-Expires below our Min-SE (UAC supports timer) → 422 + Min-SE."""
        decision = uas_negotiate(invite("Supported: timer", "Session-Expires: 100"), min_se=600)
        self.assertEqual(decision, TooSmall(600))
        self.assertEqual(decision.headers, [("Min-SE", "600")])

    def test_min_se_never_below_90(self) -> None:
        decision = uas_negotiate(invite("Supported: timer", "Session-Expires: 60"), min_se=30)
        self.assertEqual(decision, TooSmall(90))

    def test_no_422_without_support(self) -> None:
        """A proxy-inserted Session-Expires (UAC without timer) cannot be refused."""
        decision = uas_negotiate(invite("Session-Expires: 100"), min_se=600)
        self.assertEqual(decision.timer, SessionTimer(100, we_refresh=True))
        self.assertEqual(decision.headers, [("Session-Expires", "100;refresher=uas")])

    def test_uac_with_timer_no_refresher(self) -> None:
        """UAC supports, no refresher: the UAS chooses; Require: timer."""
        decision = uas_negotiate(invite("Supported: timer", "Session-Expires: 1800"))
        self.assertEqual(decision, Negotiated(
            SessionTimer(1800, we_refresh=False),
            [("Session-Expires", "1800;refresher=uac"), ("Require", "timer")],
        ))  # fmt: skip
        decision = uas_negotiate(
            invite("Supported: timer", "Session-Expires: 1800"), refresher="uas"
        )
        self.assertEqual(decision.timer, SessionTimer(1800, we_refresh=True))
        self.assertEqual(decision.headers[0], ("Session-Expires", "1800;refresher=uas"))

    def test_refresher_from_request_kept(self) -> None:
        """The table of §9: a refresher the UAC chose is copied."""
        for chosen, ours in (("uac", False), ("uas", True)):
            decision = uas_negotiate(
                invite("Supported: timer", f"Session-Expires: 1800;refresher={chosen}"),
                refresher="uas" if chosen == "uac" else "uac",
            )
            self.assertEqual(decision.timer, SessionTimer(1800, we_refresh=ours))
            self.assertEqual(decision.headers[0], ("Session-Expires", f"1800;refresher={chosen}"))

    def test_uac_without_timer(self) -> None:
        """UAC without timer and no Session-Expires: we refresh, no Require (§9)."""
        decision = uas_negotiate(invite(), session_expires=1800)
        self.assertEqual(decision.timer, SessionTimer(1800, we_refresh=True))
        self.assertEqual(decision.headers, [("Session-Expires", "1800;refresher=uas")])

    def test_supported_without_session_expires(self) -> None:
        """The UAC supports timers but asks none: we may, not below its Min-SE."""
        decision = uas_negotiate(invite("Supported: timer", "Min-SE: 2400"), session_expires=1800)
        self.assertEqual(decision.timer, SessionTimer(2400, we_refresh=False))
        self.assertIn(("Require", "timer"), decision.headers)

    def test_interval_reduced_not_increased(self) -> None:
        """§9: the UAS may lower the interval (not below Min-SE), never raise it."""
        lowered = uas_negotiate(
            invite("Supported: timer", "Session-Expires: 7200", "Min-SE: 3600"),
            session_expires=1800,
        )
        self.assertEqual(lowered.timer.interval, 3600)
        kept = uas_negotiate(
            invite("Supported: timer", "Session-Expires: 1000"), session_expires=1800
        )
        self.assertEqual(kept.timer.interval, 1000)

    def test_no_timer_wanted(self) -> None:
        self.assertEqual(uas_negotiate(invite(), session_expires=None), Negotiated(None, []))
        honoured = uas_negotiate(
            invite("Supported: timer", "Session-Expires: 1200"), session_expires=None
        )
        self.assertEqual(honoured.timer, SessionTimer(1200, we_refresh=False))


class UacTests(SynchronousTestCase):
    def test_request_headers(self) -> None:
        """§7.1: Supported: timer, Session-Expires, Min-SE after a 422."""
        self.assertEqual(
            uac_request_headers(1800),
            [("Supported", "timer"), ("Session-Expires", "1800")],
        )
        self.assertEqual(
            uac_request_headers(3600, min_se=3600, refresher="uac"),
            [
                ("Supported", "timer"),
                ("Session-Expires", "3600;refresher=uac"),
                ("Min-SE", "3600"),
            ],
        )
        self.assertRaises(ValueError, uac_request_headers, 60)
        self.assertRaises(ValueError, uac_request_headers, 1800, min_se=3600)

    def _answer(self, *headers: tuple[str, str]) -> object:
        return response(invite(), 200, headers=list(headers))

    def test_2xx_with_session_expires(self) -> None:
        """§7.2: the refresher parameter says who refreshes."""
        ours = self._answer(("Session-Expires", "1800;refresher=uac"), ("Require", "timer"))
        self.assertEqual(uac_negotiated(ours, 1800), SessionTimer(1800, we_refresh=True))
        theirs = self._answer(("Session-Expires", "900;refresher=uas"))
        self.assertEqual(uac_negotiated(theirs, 1800), SessionTimer(900, we_refresh=False))

    def test_2xx_without_session_expires(self) -> None:
        """
        §7.2: a UAS without the extension: if we asked, we refresh at our
        interval; if we did not, there is no session expiration.
        """
        self.assertEqual(uac_negotiated(self._answer(), 1800), SessionTimer(1800, we_refresh=True))
        self.assertIsNone(uac_negotiated(self._answer(), None))

    def test_retry_after_422(self) -> None:
        """§7.4: retry with the 422's Min-SE as both Min-SE and interval."""
        too_small = response(invite(), 422, headers=[("Min-SE", "3600")])
        self.assertEqual(uac_retry_after_422(too_small, 1800), (3600, 3600))
        self.assertEqual(uac_retry_after_422(too_small, 1800, min_se=4000), (4000, 4000))
        self.assertIsNone(uac_retry_after_422(too_small, 3600))  # would loop
        self.assertIsNone(uac_retry_after_422(response(invite(), 422), 1800))
        broken = response(invite(), 422, headers=[("Min-SE", "soon")])
        self.assertIsNone(uac_retry_after_422(broken, 1800))


class DeadlineTests(SynchronousTestCase):
    def test_refresher_at_half(self) -> None:
        """§10: the refresher refreshes at half the interval."""
        self.assertEqual(SessionTimer(1800, True).deadline, 900)

    def test_expiry(self) -> None:
        """§10: the other side sends BYE min(32, SE/3) before expiry."""
        self.assertEqual(SessionTimer(1800, False).deadline, 1768)
        self.assertEqual(SessionTimer(90, False).deadline, 60)
        self.assertEqual(SessionTimer(96, False).expire_after, 64)
